"""The interface a transport implements, and how the core sends through one.

:class:`Transport` is what ``Inngest(transport=...)`` takes; :func:`send` and
:func:`send_sync` send one :class:`~inngest_proto.wire.OutboundRequest`,
retrying once with the fallback signing key when the first is refused.
"""

from __future__ import annotations

from ._transport import DEFAULT_REQUEST_TIMEOUT, Transport, send, send_sync

__all__ = ["DEFAULT_REQUEST_TIMEOUT", "Transport", "send", "send_sync"]
