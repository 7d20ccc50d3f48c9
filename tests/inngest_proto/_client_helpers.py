"""The keys, environment and client shared by the Inngest client's tests."""

from __future__ import annotations

from typing import Any

import inngest_proto as inngest
from tests.fakes import FakeTransport

KEY = "signkey-test-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
DEV = {"INNGEST_DEV": "1"}


def client_for(
    environ: dict[str, str] | None = None,
    transport: FakeTransport | None = None,
    **kwargs: Any,
) -> inngest.Inngest:
    return inngest.Inngest(
        app_id="my-app",
        environ=DEV if environ is None else environ,
        transport=transport,
        **kwargs,
    )
