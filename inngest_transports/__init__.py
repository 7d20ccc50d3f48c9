"""Where the I/O lives: transports that carry the core's requests and responses.

* ``http``: :class:`~inngest_transports.http.HttpTransport`, httpx sync and
  async, with retries; the client's default transport.
* ``server``: a small HTTP/1.1 server (h11 on anyio) hosting an app without
  any web framework.

The connect worker (``connect``) and the embedded dev server (``devserver``)
come next.
"""
