"""One app, written for the official SDK, runs on ours with only its imports changed.

:mod:`.dropin_app` is an app of the official SDK (``inngest==0.5.19``).  This
test loads its source twice: as it is, on the official SDK, and with its
import lines rewritten by the module table of docs/migrating.rst (the
documented import map), on ours; every other line must stay the same.  Each
copy is served by FastAPI on our dev server, receives the same webhook
bodies and events, and must give the same runs (statuses, outputs, retries)
and the same values from its model, error and ``FRAMEWORK`` calls.  The
values that differ are the deliberate differences of docs/differences.rst,
asserted as documented.  Skipped where the official SDK is absent (the
``official`` tox env has it).
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

#: The official SDK's pydantic models use v1-style ``class Config``; pydantic
#: warns at import, and our ``filterwarnings = error`` would make it fatal.
_PYDANTIC_CONFIG = "Support for class-based `config` is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", _PYDANTIC_CONFIG, DeprecationWarning)
    for _name in ("inngest", "fastapi", "flask", "uvicorn"):
        pytest.importorskip(_name)

import httpx  # noqa: E402

from tests.dev_api import DevApiReader  # noqa: E402
from tests.inngest_frameworks._async_hosts import uvicorn_server  # noqa: E402

from ._compat import RUN_TIMEOUT, _dev_server, close_official_client  # noqa: E402
from .test_migrating import module_table  # noqa: E402

SOURCE = Path(__file__).with_name("dropin_app.py")
IMPORT = re.compile(r"^import (?P<module>inngest\S*)$")
FROM_IMPORT = re.compile(
    r"^from (?P<module>inngest\S*) import (?P<name>\w+)(?P<alias> as \w+)?$"
)


def migrate_imports(source: str) -> str:
    """``source`` with its imports of the official SDK moved by migrating.rst."""
    table = module_table()
    return "\n".join(migrate_line(line, table) for line in source.splitlines()) + "\n"


def migrate_line(line: str, table: dict[str, str | None]) -> str:
    """``line`` moved by ``table`` if it imports the official SDK, else as it is.

    ``import inngest`` keeps the name (``import inngest_proto as inngest``, as
    migrating.rst shows); ``from M import N`` takes N from M's counterpart,
    or, where M.N is itself a module, the counterpart of M.N under N's name.
    """
    if match := IMPORT.match(line):
        official = match["module"]
        ours = table[official]
        assert ours is not None, line
        assert "." not in official, line
        return f"import {ours} as {official}"
    if match := FROM_IMPORT.match(line):
        official, name = match["module"], match["name"]
        alias = match["alias"] or f" as {name}"
        submodule = table.get(f"{official}.{name}")
        if submodule is not None:
            parent, _, leaf = submodule.rpartition(".")
            return f"from {parent} import {leaf}{alias}"
        ours = table[official]
        assert ours is not None, line
        return f"from {ours} import {name}{alias}"
    return line


def load(name: str, source: str, directory: Path) -> ModuleType:
    """Import ``source`` as a fresh module ``name`` (its client reads the env)."""
    path = directory / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", _PYDANTIC_CONFIG, DeprecationWarning)
            spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def finished_run(http: httpx.Client, event_id: str) -> dict[str, Any]:
    return DevApiReader(http, RUN_TIMEOUT).finished_run(event_id)


def the_only_event(http: httpx.Client, name: str) -> str:
    (event,) = http.get("/v1/events", params={"name": name}).json()["data"]
    event_id: str = event["internal_id"]
    return event_id


def exercise(name: str, source: str, directory: Path) -> dict[str, Any]:
    """Run the app of ``source`` on a fresh dev server; what it gave back."""
    with _dev_server() as (dev, portal), pytest.MonkeyPatch.context() as mp:
        for variable in ("INNGEST_SIGNING_KEY", "INNGEST_EVENT_KEY", "INNGEST_ENV"):
            mp.delenv(variable, raising=False)
        mp.setenv("INNGEST_DEV", "1")
        mp.setenv("INNGEST_BASE_URL", dev.url)
        shop = load(name, source, directory)
        http = httpx.Client(base_url=dev.url, timeout=5)
        try:
            with uvicorn_server(shop.app, lifespan="off") as base_url:
                synced = portal.call(dev.sync_app, f"{base_url}/api/inngest")
                assert synced["state"] == "synced", synced
                return run_scenarios(shop, http)
        finally:
            http.close()
            if name == "official":
                close_official_client(shop.client)


def run_scenarios(shop: Any, http: httpx.Client) -> dict[str, Any]:
    body = json.dumps(
        {"name": shop.ORDER_PLACED, "data": {"order": 7, "items": ["tea", "jam"]}}
    )
    (placed,) = shop.webhook(body)
    order = finished_run(http, placed)
    charged = finished_run(http, the_only_event(http, shop.ORDER_CONFIRMED))
    (sale,) = shop.client.send_sync(
        shop.inngest.Event(name=shop.REFUND_ASKED, data={"sale": True})
    )
    refused = finished_run(http, sale)
    (plain,) = shop.client.send_sync(
        shop.inngest.Event(name=shop.REFUND_ASKED, data={"sale": False})
    )
    refunded = finished_run(http, plain)
    return {
        "order": (order["status"], order["output"]),
        "charge": (charged["status"], charged["output"], list(shop.charge_attempts)),
        "refused": (
            refused["status"],
            refused["output"]["name"],
            refused["output"]["message"],
        ),
        "refunded": (refunded["status"], refunded["output"]),
        "rejected_no_name": shop.rejected('{"data": {}}'),
        "rejected_not_json": shop.rejected("{not json"),
        "models": shop.model_facts(),
        "errors": shop.error_facts(),
        "frameworks": shop.framework_facts(),
    }


@pytest.fixture(scope="module")
def results(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("dropin")
    source = SOURCE.read_text()
    return {
        "official": exercise("official", source, directory),
        "ours": exercise("ours", migrate_imports(source), directory),
    }


def test_only_the_imports_change() -> None:
    source = SOURCE.read_text()
    migrated = migrate_imports(source)
    changed = [
        (a, b)
        for a, b in zip(source.splitlines(), migrated.splitlines(), strict=True)
        if a != b
    ]
    assert changed == [
        ("import inngest", "import inngest_proto as inngest"),
        (
            "from inngest import fast_api",
            "from inngest_frameworks import fast_api as fast_api",
        ),
        (
            "from inngest import flask as inngest_flask",
            "from inngest_frameworks import flask as inngest_flask",
        ),
    ]


def test_the_runs_are_the_same(results: dict[str, dict[str, Any]]) -> None:
    official, ours = results["official"], results["ours"]
    assert official["order"] == (
        "Completed",
        {"amount": 6, "sent": 1, "source": "webhook"},
    )
    assert official["charge"] == ("Completed", "charged 6", [0, 1])
    assert official["refused"] == (
        "Failed",
        "NonRetriableError",
        "no refunds on sale items",
    )
    assert official["refunded"] == ("Completed", None)
    for key in ("order", "charge", "refused", "refunded"):
        assert ours[key] == official[key], key


def test_the_models_give_the_same_values(results: dict[str, dict[str, Any]]) -> None:
    official, ours = results["official"], results["ours"]
    assert ours["models"] == official["models"]
    # The validation error is read the same way (differences.rst: ours is
    # inngest_proto.ValidationError, also a ValueError, with pydantic's errors()).
    assert ours["rejected_no_name"] == official["rejected_no_name"]
    assert ours["rejected_not_json"] == official["rejected_not_json"]


def test_errors_and_frameworks_give_the_same_values(
    results: dict[str, dict[str, Any]],
) -> None:
    official, ours = results["official"], results["ours"]
    # differences.rst: ErrorCode and Framework are str enums here, so a
    # comparison with the wire value holds; the official plain Enums never
    # equal a str.  Every other value is the same.
    documented = {"code_equals_string", "fast_api_equals_string", "flask_equals_string"}

    def same_but_documented(values: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if k not in documented}

    for kind in ("non_retriable", "retry_after"):
        assert same_but_documented(ours["errors"][kind]) == same_but_documented(
            official["errors"][kind]
        ), kind
        assert official["errors"][kind]["code_equals_string"] is False
        assert ours["errors"][kind]["code_equals_string"] is True
    assert same_but_documented(ours["frameworks"]) == same_but_documented(
        official["frameworks"]
    )
    assert official["frameworks"]["fast_api"] == "fast_api"
    for key in ("fast_api_equals_string", "flask_equals_string"):
        assert official["frameworks"][key] is False
        assert ours["frameworks"][key] is True
