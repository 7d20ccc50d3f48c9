"""JSON encoding and decoding, in one place so a faster backend can slot in.

The encoding matches Python's ``json.dumps`` defaults (``", "`` and ``": "``
separators, non-ASCII escaped) because that is what the official SDK puts on
the wire and the golden transcripts record.  Response signatures are computed
over exactly these bytes.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["JSONDecodeError", "dumps", "dumps_compact", "json_type", "loads"]

JSONDecodeError = json.JSONDecodeError


def _reject_constant(name: str) -> Any:
    msg = f"{name} is not valid JSON"
    raise ValueError(msg)


def loads(data: bytes | str) -> Any:
    """Parse JSON text; raises ``ValueError`` (``NaN`` and ``Infinity`` too)."""
    return json.loads(data, parse_constant=_reject_constant)


def json_type(value: object) -> str:
    """How a parsed value's type is called in JSON, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def dumps(value: Any) -> bytes:
    """Encode as the official SDK does for response bodies."""
    return json.dumps(value, allow_nan=False).encode()


def dumps_compact(value: Any) -> bytes:
    """Compact encoding for request bodies (sync payloads, events)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
