"""Where the I/O lives: transports that carry the core's requests and responses.

Planned modules: ``http`` (httpx, sync and async), ``connect`` (the WebSocket
worker on wsproto and anyio), ``server`` (an h11 server hosting an app without
a framework) and ``devserver`` (the embedded executor).  Until ``http`` lands,
pass any object implementing :class:`inngest_proto.Transport` to ``Inngest``.
"""
