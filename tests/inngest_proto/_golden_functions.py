"""The golden app's functions, taken from ``tests/golden_app.py``.

The configs the golden app syncs come from the very functions the replay
tests serve, built through the real ``create_function`` API, so the option
classes and the config builder are checked against the recorded register
bodies without re-declaring any option here.
"""

from __future__ import annotations

from typing import Any

import inngest_proto as inngest
from inngest_proto._function_config import FunctionConfig
from tests.golden_app import APP_ID, FLASK_FUNCTIONS, build_functions
from tests.golden_files import load_golden

__all__ = [
    "APP_ID",
    "ASYNC_FUNCTION_IDS",
    "GOLDEN_FUNCTIONS",
    "configs_for",
    "local_ids",
    "register_request",
]


#: Local fn id -> function, in the order the golden app serves them.
GOLDEN_FUNCTIONS = build_functions(
    inngest.Inngest(app_id=APP_ID, is_production=False, environ={})
)
#: The functions the FastAPI golden app serves (all but the Flask one), in order.
ASYNC_FUNCTION_IDS = [
    fn_id for fn_id in GOLDEN_FUNCTIONS if fn_id not in FLASK_FUNCTIONS
]


def configs_for(fn_ids: list[str], serve_url: str) -> list[FunctionConfig]:
    """The configs the golden app would sync for ``fn_ids`` at ``serve_url``."""
    return [
        config
        for fn_id in fn_ids
        for config in GOLDEN_FUNCTIONS[fn_id].get_configs(serve_url)
    ]


def local_ids(functions: list[dict[str, Any]]) -> list[str]:
    """Local fn ids of the user functions in a golden ``functions`` list."""
    prefix = f"{APP_ID}-"
    return [
        f["id"].removeprefix(prefix)
        for f in functions
        if not f["id"].endswith("-failure")
    ]


def register_request(name: str) -> dict[str, Any]:
    """The ``POST /fn/register`` request a golden sync transcript captured."""
    for exchange in load_golden(name)["exchanges"]:
        for outbound in exchange.get("sdk_outbound_requests") or []:
            request: dict[str, Any] = outbound["request"]
            if request["path"].startswith("/fn/register"):
                return request
    raise LookupError(name)
