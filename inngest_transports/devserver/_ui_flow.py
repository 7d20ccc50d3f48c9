"""A function's flow control and retries in words, for the web UI.

The UI showed the synced configuration as raw JSON; people read
"3 runs at a time per event.data.user" faster than
``[{"limit": 3, "key": "event.data.user"}]``.  The input is a function's
configuration in wire form (``unstructure(FunctionConfig)``); each setting
becomes ``{"setting", "label", "text"}``, in the order the executor applies
them.  Values an SDK sent in an unexpected shape are shown as JSON rather
than guessed at.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from inngest_proto import json_codec

__all__ = ["describe_flow"]


def _keyed(text: str, key: Any) -> str:
    return f"{text}, per {key}" if isinstance(key, str) and key else text


def _plural(n: Any, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _concurrency(value: Any) -> str:
    parts = []
    for limit in value if isinstance(value, list) else [value]:
        if not isinstance(limit, Mapping):
            return json_codec.dumps_compact(value).decode()
        scope = limit.get("scope")
        text = f"{_plural(limit.get('limit'), 'step')} at a time"
        if isinstance(scope, str) and scope not in ("", "fn"):
            text += f" across the {scope}"
        parts.append(_keyed(text, limit.get("key")))
    return "; ".join(parts)


def _throttle(value: Mapping[str, Any]) -> str:
    text = f"starts {_plural(value.get('limit'), 'run')} per {value.get('period')}"
    burst = value.get("burst")
    if burst:
        text += f" (plus a burst of {burst})"
    return _keyed(text, value.get("key")) + "; later runs wait their turn"


def _rate_limit(value: Mapping[str, Any]) -> str:
    text = f"at most {_plural(value.get('limit'), 'run')} per {value.get('period')}"
    return _keyed(text, value.get("key")) + "; events over the limit start no run"


def _debounce(value: Mapping[str, Any]) -> str:
    text = f"runs once events stop for {value.get('period')}, with the last event"
    if value.get("timeout"):
        text += f" (at most {value.get('timeout')} after the first)"
    return _keyed(text, value.get("key"))


def _batch(value: Mapping[str, Any]) -> str:
    text = (
        f"runs with up to {_plural(value.get('maxSize'), 'event')},"
        f" or what came within {value.get('timeout')}"
    )
    if value.get("if"):
        text += f"; only events where {value.get('if')}"
    return _keyed(text, value.get("key"))


def _priority(value: Mapping[str, Any]) -> str:
    return f"runs jump the queue by {value.get('run')} seconds"


def _cancel(value: Any) -> str:
    parts = []
    for entry in value if isinstance(value, list) else [value]:
        if not isinstance(entry, Mapping):
            return json_codec.dumps_compact(value).decode()
        text = f"cancelled by event {entry.get('event')}"
        if entry.get("if"):
            text += f" if {entry.get('if')}"
        if entry.get("timeout"):
            text += f" within {entry.get('timeout')}"
        parts.append(text)
    return "; ".join(parts)


def _singleton(value: Mapping[str, Any]) -> str:
    mode = value.get("mode")
    then = (
        "a new run cancels the running one"
        if mode == "cancel"
        else "new runs are skipped while one runs"
    )
    return _keyed(f"one run at a time: {then}", value.get("key"))


def _timeouts(value: Mapping[str, Any]) -> str:
    parts = []
    if value.get("start"):
        parts.append(f"cancelled if not started within {value.get('start')}")
    if value.get("finish"):
        parts.append(f"cancelled if not finished {value.get('finish')} after starting")
    return "; ".join(parts) or "none"


def _idempotency(value: Any) -> str:
    return f"one run per {value} in 24 hours; duplicates start no run"


def _retries(value: Any) -> str:
    return f"each step is retried up to {_plural(value, 'time')} after failing"


_Describe = Callable[[Any], str]
_SETTINGS: tuple[tuple[str, str, _Describe, bool], ...] = (
    # (wire key, label, describe, needs an object)
    ("rateLimit", "Rate limit", _rate_limit, True),
    ("debounce", "Debounce", _debounce, True),
    ("batchEvents", "Batching", _batch, True),
    ("idempotency", "Idempotency", _idempotency, False),
    ("singleton", "Singleton", _singleton, True),
    ("throttle", "Throttle", _throttle, True),
    ("concurrency", "Concurrency", _concurrency, False),
    ("priority", "Priority", _priority, True),
    ("cancel", "Cancel on", _cancel, False),
    ("timeouts", "Timeouts", _timeouts, True),
    ("retries", "Retries", _retries, False),
)


def describe_flow(config: Mapping[str, Any]) -> list[dict[str, str]]:
    """The flow-control settings ``config`` has, each described in words."""
    out = []
    for key, label, describe, needs_object in _SETTINGS:
        value = config.get(key)
        if value is None:
            continue
        if needs_object and not isinstance(value, Mapping):
            text = json_codec.dumps_compact(value).decode()
        else:
            text = describe(value)
        out.append({"setting": key, "label": label, "text": text})
    return out
