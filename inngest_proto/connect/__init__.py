"""Inngest Connect (the outbound WebSocket worker protocol) without I/O.

``connect.proto`` is the ``connect.v1`` schema written from the protocol field
list; ``connect_pb2`` is generated from it (committed, see the ``.proto`` header)
and ``_codec`` turns frames into typed messages and back. Everything here needs
``protobuf`` (the ``connect`` extra), so the core package never imports it.
"""
