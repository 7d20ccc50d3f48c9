"""Inngest Connect (the outbound WebSocket worker protocol) without I/O.

``connect.proto`` is the ``connect.v1`` schema written from the protocol field
list; ``connect_pb2`` is generated from it (committed, see the ``.proto`` header)
and ``_codec`` turns frames into typed messages and back; ``_machine`` is one
worker connection, :class:`RequestLease` the gateway's lease on a request it
delivered. Everything here but the lease needs
``protobuf`` (the ``connect`` extra), so the core package never imports it.
"""

from ._lease import LeaseTimings, RequestLease

__all__ = ["LeaseTimings", "RequestLease"]
