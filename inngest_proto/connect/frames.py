"""Connect frames: the ``connect.v1`` messages encoded and decoded.

Needs ``protobuf`` (the ``connect`` extra).
"""

from __future__ import annotations

from ._codec import ConnectProtocolError, Kind, decode, encode

__all__ = ["ConnectProtocolError", "Kind", "decode", "encode"]
