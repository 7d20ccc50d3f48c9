"""The golden transcripts recorded from the official SDK (``tests/fixtures/golden``),
as the tests that compare with them read them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inngest_proto._version import SDK_IDENTITY

GOLDEN_DIR = Path(__file__).parent / "fixtures" / "golden"
#: The SDK identity the recordings carry, where ours goes.
GOLDEN_SDK = "inngest-py:v0.5.19"
#: Headers the HTTP client adds; not the core's business.
TRANSPORT_HEADERS = frozenset(
    {"host", "accept", "accept-encoding", "connection", "content-length"}
)


def load_golden(file: str) -> dict[str, Any]:
    """The transcript in ``file`` (e.g. ``send_event_client.json``)."""
    data: dict[str, Any] = json.loads((GOLDEN_DIR / file).read_text())
    return data


def golden_headers(request: dict[str, Any]) -> dict[str, str]:
    """A recorded request's headers minus the transport's, with our SDK identity."""
    return {
        name: SDK_IDENTITY if value == GOLDEN_SDK else value
        for name, value in request["headers"]
        if name not in TRANSPORT_HEADERS
    }
