"""What crosses the wire, for the transports and frameworks built on the core.

The plain HTTP values a transport or framework front exchanges with the core
(:class:`IncomingRequest`, :class:`Response`, :class:`OutboundRequest`,
:class:`OutboundResponse`), the one converter that owns the JSON wire format
(:func:`structure`, :func:`unstructure`), and the encoding helpers the
protocol fixes: compact and canonical JSON, request signatures, the
``Authorization`` headers and the SDK's identity headers.

These are values and pure functions; nothing here performs I/O.
"""

from __future__ import annotations

from ._call_handler import query_from_url
from ._converter import structure, unstructure
from ._events import parse_event
from ._http_values import IncomingRequest, OutboundRequest, OutboundResponse, Response
from ._jcs import canonicalize
from ._json import dumps_compact, json_type
from ._outbound import auth_headers
from ._serializer import is_plain_json_type
from ._signing import compute_signature
from ._version import SDK_IDENTITY, SDK_LANGUAGE, __version__

__all__ = [
    "SDK_IDENTITY",
    "SDK_LANGUAGE",
    "IncomingRequest",
    "OutboundRequest",
    "OutboundResponse",
    "Response",
    "__version__",
    "auth_headers",
    "canonicalize",
    "compute_signature",
    "dumps_compact",
    "is_plain_json_type",
    "json_type",
    "parse_event",
    "query_from_url",
    "structure",
    "unstructure",
]
