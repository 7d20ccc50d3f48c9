"""Loading golden transcripts and replaying them against our comm handler."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import attrs

import inngest_proto as inngest
from inngest_proto._call_handler import query_from_url
from inngest_proto._version import SDK_IDENTITY, __version__
from tests.fakes import FakeTransport
from tests.golden_app import APP_ID, CLOUD_FUNCTIONS, FLASK_FUNCTIONS, build_functions
from tests.golden_files import GOLDEN_DIR, GOLDEN_SDK, load_golden

#: The timestamp every golden request signature was made with.
SIGNED_AT = 1735689600
NOT_HTTP = {"auth_vectors.json", "connect_session.json", "send_event_client.json"}


def http_scenarios() -> list[str]:
    return sorted(p.stem for p in GOLDEN_DIR.glob("*.json") if p.name not in NOT_HTTP)


def load(name: str) -> dict[str, Any]:
    return load_golden(f"{name}.json")


def headers_of(pairs: list[list[str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in pairs}


@attrs.define
class Replay:
    """Our app configured as the recording app was for one scenario."""

    client: inngest.Inngest
    handler: inngest.CommHandler
    transport: FakeTransport
    sync: bool
    functions: list[inngest.Function[Any]]
    framework: str

    @staticmethod
    def config_key(golden: dict[str, Any]) -> tuple[object, ...]:
        """Scenarios with equal keys are served by identically configured apps."""
        env = golden.get("env") or {}
        flask = golden["scenario"].startswith("sync_flask")
        return (golden["mode"], tuple(sorted(env.items())), flask)

    @classmethod
    def for_scenario(
        cls, golden: dict[str, Any], *, extra_env: dict[str, str] | None = None
    ) -> Replay:
        env = {
            k: v
            for k, v in (golden.get("env") or {}).items()
            if k.startswith("INNGEST_")
        }
        if golden["mode"] == "dev":
            env.setdefault("INNGEST_DEV", "1")
        env.update(extra_env or {})
        transport = FakeTransport(now=SIGNED_AT)
        client = inngest.Inngest(app_id=APP_ID, transport=transport, environ=env)
        functions = build_functions(client)
        flask = golden["scenario"].startswith("sync_flask")
        if flask:
            served = [functions[i] for i in FLASK_FUNCTIONS]
        elif (golden.get("env") or {}).get("GOLDEN_SMALL"):
            served = [functions[i] for i in CLOUD_FUNCTIONS]
        else:
            served = [f for i, f in functions.items() if i not in FLASK_FUNCTIONS]
        framework = "flask" if flask else "fast_api"
        handler = inngest.CommHandler(
            client=client, functions=served, framework=framework
        )
        return cls(client, handler, transport, flask, served, framework)

    def request(self, recorded: dict[str, Any]) -> inngest.IncomingRequest:
        headers = headers_of(recorded["headers"])
        url = f"http://{headers['host']}{recorded['path']}"
        return inngest.IncomingRequest(
            method=recorded["method"],
            url=url,
            headers=headers,
            body=(recorded["body_raw"] or "").encode(),
            query=query_from_url(url),
        )

    def prime(self, exchange: dict[str, Any]) -> None:
        for outbound in exchange.get("sdk_outbound_requests") or []:
            stub = outbound["stub_response"]
            body = stub.get("body_raw")
            if body is None:
                body = json.dumps(stub.get("body"))
            self.transport.queue(
                inngest.OutboundResponse(
                    stub["status"],
                    {"content-type": stub.get("content_type", "application/json")},
                    body.encode(),
                )
            )


def exchanges(golden: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    yield from enumerate(golden["exchanges"])


def ours_for_theirs(value: Any) -> Any:
    """Rewrite the recording SDK's identity strings to ours, recursively."""
    if isinstance(value, str):
        return (
            value.replace(GOLDEN_SDK, SDK_IDENTITY)
            .replace("py:v0.5.19", f"py:v{__version__}")
            .replace("0.5.19", __version__)
        )
    if isinstance(value, list):
        return [ours_for_theirs(v) for v in value]
    if isinstance(value, dict):
        return {k: ours_for_theirs(v) for k, v in value.items()}
    return value


def without_stacks(value: Any) -> Any:
    """Tracebacks name files and lines of the recording machine: compare all else."""
    if isinstance(value, list):
        return [without_stacks(v) for v in value]
    if isinstance(value, dict):
        return {
            k: ("<stack>" if k == "stack" and isinstance(v, str) else without_stacks(v))
            for k, v in value.items()
        }
    return value


def url_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
