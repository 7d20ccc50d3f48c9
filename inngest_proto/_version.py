"""The SDK's identity on the wire, kept in one place."""

from __future__ import annotations

__version__ = "0.1.0"

#: Language tag used in sync payloads (``sdk``) and introspection.
SDK_LANGUAGE = "py"
#: Value of ``X-Inngest-SDK`` and ``User-Agent``: ``<name>:v<semver>``.
SDK_NAME = "inngest-py"
SDK_IDENTITY = f"{SDK_NAME}:v{__version__}"
#: Execution request version this SDK speaks (``X-Inngest-Req-Version``).
REQUEST_VERSION = "2"
SCHEMA_VERSION = "2024-05-24"
