"""Functions the executor knows, from the configs apps sync."""

from __future__ import annotations

import urllib.parse

import attrs

from .._function_config import MAX_RETRIES, ROOT_STEP_ID, FunctionConfig
from ._ids import function_uuid

__all__ = ["DEFAULT_RETRIES", "RegisteredFunction", "register_function"]

#: Retries when a function's config sets none: 4, so 5 attempts
#: (docs/protocol/executor.rst#retries).
DEFAULT_RETRIES = 4


@attrs.frozen
class RegisteredFunction:
    config: FunctionConfig
    app_url: str
    #: The call URL from the sync (``fnId`` and ``stepId=step`` included).
    runtime_url: str
    #: ``ctx.fn_id``: the internal UUID, stable for the composite id.
    uuid: str
    app_uuid: str
    #: Retries + 1; the server reads ``retries.attempts`` as a retry count.
    max_attempts: int


def register_function(app_url: str, config: FunctionConfig) -> RegisteredFunction:
    step = config.steps.get(ROOT_STEP_ID) or next(iter(config.steps.values()), None)
    if step is not None and step.runtime.url:
        runtime_url = step.runtime.url
    else:
        query = urllib.parse.urlencode({"fnId": config.id, "stepId": ROOT_STEP_ID})
        runtime_url = f"{app_url}?{query}"
    retries = DEFAULT_RETRIES
    if step is not None and step.retries is not None:
        retries = min(max(step.retries.attempts, 0), MAX_RETRIES)
    return RegisteredFunction(
        config=config,
        app_url=app_url,
        runtime_url=runtime_url,
        uuid=function_uuid(config.id),
        app_uuid=function_uuid(app_url),
        max_attempts=retries + 1,
    )
