from __future__ import annotations

import json
from typing import Any

import pytest

from inngest_proto._converter import structure, unstructure
from inngest_proto._errors import FunctionConfigInvalidError
from inngest_proto._sync_models import (
    SDK_WIRE_VERSION,
    AuthenticatedIntrospection,
    Capabilities,
    InBandSyncResponse,
    RegisterRequest,
    UnauthenticatedIntrospection,
)
from inngest_proto._version import __version__
from tests.golden_files import load_golden

from ._golden_functions import APP_ID, configs_for, local_ids, register_request

OFFICIAL_VERSION = "0.5.19"

REGISTER_GOLDENS = [
    "sync_dev_out_of_band.json",
    "sync_dev_in_band_header_ignored.json",
    "sync_dev_register_rejected.json",
    "sync_cloud_out_of_band_signed.json",
    "sync_cloud_out_of_band_unsigned.json",
    "sync_flask_out_of_band_serve_origin.json",
]


def _official_register_raw(raw: str) -> str:
    """The official body with our expected differences (README "Known differences")."""
    return (
        raw.replace('{"appname":', '{"appName":', 1)
        .replace(',"deploy_type":', ',"deployType":', 1)
        .replace(f'"sdk":"py:v{OFFICIAL_VERSION}"', f'"sdk":"{SDK_WIRE_VERSION}"', 1)
    )


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@pytest.mark.parametrize("golden", REGISTER_GOLDENS)
def test_register_request_matches_golden(golden: str) -> None:
    request = register_request(golden)
    body = request["body"]
    ours = RegisterRequest(
        app_id=APP_ID,
        framework=body["framework"],
        functions=configs_for(local_ids(body["functions"]), body["url"]),
        url=body["url"],
    )
    expected = _official_register_raw(request["body_raw"])
    assert _compact(unstructure(ours)) == expected
    assert structure(json.loads(expected), RegisterRequest) == ours


def test_register_request_shape() -> None:
    [function] = configs_for(["no-steps"], "http://h/api/inngest")
    ours = unstructure(
        RegisterRequest(
            app_id="app",
            app_version="v1.2",
            framework="flask",
            functions=[function],
            url="http://h/api/inngest",
        )
    )
    assert list(ours) == [
        "appName",
        "appVersion",
        "capabilities",
        "deployType",
        "framework",
        "functions",
        "sdk",
        "url",
        "v",
    ]
    assert ours["appVersion"] == "v1.2"
    assert ours["capabilities"] == {
        "connect": "v1",
        "in_band_sync": "v1",
        "trust_probe": "v1",
    }
    assert ours["deployType"] == "ping"
    assert ours["sdk"] == f"py:v{__version__}"
    assert ours["v"] == "0.1"


@pytest.mark.parametrize("functions", [[], None])
def test_register_request_needs_functions(functions: Any) -> None:
    with pytest.raises(FunctionConfigInvalidError, match="no functions found"):
        RegisterRequest(app_id="a", framework="f", functions=functions, url="u")


# --- introspection ------------------------------------------------------------------


def _response_body(golden: str) -> tuple[dict[str, Any], str]:
    response = load_golden(golden)["exchanges"][0]["response"]
    return response["body"], response["body_raw"]


def _with_official_version(body: dict[str, Any]) -> dict[str, Any]:
    body = dict(body)
    if "sdk_version" in body:
        assert body["sdk_version"] == __version__
        body["sdk_version"] = OFFICIAL_VERSION
    if "inspection" in body:
        body["inspection"] = _with_official_version(body["inspection"])
    return body


def _golden_inspection(**overrides: Any) -> AuthenticatedIntrospection:
    signed, _ = _response_body("introspection_cloud_signed.json")
    values: dict[str, Any] = {
        "api_origin": "http://127.0.0.1:8288",
        "app_id": APP_ID,
        "env": "golden-env",
        "event_api_origin": "http://127.0.0.1:8288",
        "event_key_hash": signed["event_key_hash"],
        "framework": "fast_api",
        "function_count": 3,
        "has_event_key": True,
        "has_signing_key": True,
        "has_signing_key_fallback": True,
        "mode": "cloud",
        "signing_key_fallback_hash": signed["signing_key_fallback_hash"],
        "signing_key_hash": signed["signing_key_hash"],
    }
    return AuthenticatedIntrospection(**{**values, **overrides})


def test_unauthenticated_introspection_matches_golden() -> None:
    body, raw = _response_body("introspection_dev_unsigned.json")
    ours = UnauthenticatedIntrospection(
        function_count=27,
        has_event_key=False,
        has_signing_key=False,
        has_signing_key_fallback=False,
        mode="dev",
    )
    assert json.dumps(unstructure(ours)) == raw
    assert structure(body, UnauthenticatedIntrospection) == ours


def test_authenticated_introspection_matches_golden() -> None:
    body, raw = _response_body("introspection_cloud_signed.json")
    ours = _golden_inspection()
    assert json.dumps(_with_official_version(unstructure(ours))) == raw
    assert unstructure(structure(body, AuthenticatedIntrospection)) == {
        **unstructure(ours),
        "sdk_version": OFFICIAL_VERSION,
    }


def test_authenticated_introspection_keeps_nulls() -> None:
    ours = unstructure(
        _golden_inspection(
            env=None,
            event_key_hash=None,
            has_event_key=False,
            signing_key_fallback_hash=None,
            has_signing_key_fallback=False,
        )
    )
    assert ours["env"] is None
    assert ours["event_key_hash"] is None
    assert ours["signing_key_fallback_hash"] is None
    assert ours["authentication_succeeded"] is True


def test_mode_is_checked() -> None:
    with pytest.raises(ValueError, match="mode"):
        UnauthenticatedIntrospection(
            function_count=0,
            has_event_key=False,
            has_signing_key=False,
            has_signing_key_fallback=False,
            mode="prod",  # type: ignore[arg-type]
        )


def test_capabilities() -> None:
    assert unstructure(Capabilities()) == {
        "connect": "v1",
        "in_band_sync": "v1",
        "trust_probe": "v1",
    }


# --- in-band sync -------------------------------------------------------------------


def test_in_band_response_matches_golden() -> None:
    body, raw = _response_body("sync_cloud_in_band.json")
    url = "https://golden.example.com/api/inngest"
    ours = InBandSyncResponse(
        app_id=APP_ID,
        env="golden-env",
        framework="fast_api",
        functions=configs_for(["no-steps", "two-steps", "with-failure-handler"], url),
        inspection=_golden_inspection(),
        url=url,
    )
    assert json.dumps(_with_official_version(unstructure(ours))) == raw
    assert unstructure(structure(body, InBandSyncResponse)) == body


def test_in_band_response_leaves_out_nones() -> None:
    url = "https://h/api/inngest"
    inspection = _golden_inspection(
        env=None,
        event_key_hash=None,
        has_event_key=False,
        serve_origin="https://h",
    )
    ours = unstructure(
        InBandSyncResponse(
            app_id="app",
            app_version="2024-01",
            framework="flask",
            functions=configs_for(["no-steps"], url),
            inspection=inspection,
            url=url,
        )
    )
    assert list(ours) == [
        "app_id",
        "appVersion",
        "framework",
        "functions",
        "inspection",
        "sdk_author",
        "sdk_language",
        "sdk_version",
        "url",
    ]
    assert ours["sdk_author"] == "inngest"
    assert ours["sdk_language"] == "py"
    assert ours["sdk_version"] == __version__
    assert None not in ours["inspection"].values()
    assert "env" not in ours["inspection"]
    assert "event_key_hash" not in ours["inspection"]
    assert ours["inspection"]["serve_origin"] == "https://h"
    assert "serve_path" not in ours["inspection"]
    # With a platform and env, both are sent.
    with_env = InBandSyncResponse(
        app_id="app",
        env="prod",
        framework="flask",
        functions=[],
        inspection=inspection,
        platform="vercel",
        url=url,
    )
    assert unstructure(with_env)["env"] == "prod"
    assert unstructure(with_env)["platform"] == "vercel"
