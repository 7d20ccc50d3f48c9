"""The SDK's JSON encoding and decoding, for the packages built on the core.

One codec for every JSON the SDK and the dev server read or write: strict
parsing (``NaN`` and ``Infinity`` refused), the official SDK's encoding
(``dumps``), the compact and UTF-8 forms, and a depth check for untrusted
input.  Wire *models* go through :mod:`inngest_proto.wire`'s converter;
this is the text underneath.
"""

from __future__ import annotations

from ._json import (
    JSONDecodeError,
    deeper_than,
    dumps,
    dumps_compact,
    dumps_text,
    dumps_utf8,
    json_type,
    loads,
    loads_replacing_surrogates,
)

__all__ = [
    "JSONDecodeError",
    "deeper_than",
    "dumps",
    "dumps_compact",
    "dumps_text",
    "dumps_utf8",
    "json_type",
    "loads",
    "loads_replacing_surrogates",
]
