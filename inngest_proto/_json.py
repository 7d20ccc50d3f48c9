"""JSON encoding and decoding, in one place so a faster backend can slot in.

The encoding matches Python's ``json.dumps`` defaults (``", "`` and ``": "``
separators, non-ASCII escaped) because that is what the official SDK puts on
the wire and the golden transcripts record.  Response signatures are computed
over exactly these bytes.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["JSONDecodeError", "dumps", "dumps_compact", "loads"]

JSONDecodeError = json.JSONDecodeError


def _reject_constant(name: str) -> Any:
    msg = f"{name} is not valid JSON"
    raise ValueError(msg)


def loads(data: bytes | str) -> Any:
    """Parse JSON text; raises ``ValueError`` (``NaN`` and ``Infinity`` too)."""
    return json.loads(data, parse_constant=_reject_constant)


def dumps(value: Any) -> bytes:
    """Encode as the official SDK does for response bodies."""
    return json.dumps(value, allow_nan=False).encode()


def dumps_compact(value: Any) -> bytes:
    """Compact encoding for request bodies (sync payloads, events)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
