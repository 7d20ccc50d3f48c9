"""Thin glue from web frameworks to :class:`inngest_proto.CommHandler`.

One module per framework (``flask``, ``fast_api``, ``django``, ``tornado``,
``digital_ocean``, plus generic ``asgi`` and ``wsgi``); each converts the
framework's request to an :class:`inngest_proto.IncomingRequest` and the
handler's :class:`inngest_proto.Response` back, and nothing else.
"""
