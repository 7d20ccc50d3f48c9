"""Run a DigitalOcean Function's ``main`` locally, behind a Flask app.

DigitalOcean Functions have no local runtime; this stands in for the
platform's web front for a raw web function (``web: raw``), so an app served
with :func:`inngest_frameworks.digital_ocean.serve` can be synced and called
by a dev server, or driven with Flask's test client::

    from inngest_frameworks.digital_ocean_simulator import (
        FULL_PATH,
        DigitalOceanSimulator,
    )

    main = inngest_frameworks.digital_ocean.serve(client, [hello])
    app = DigitalOceanSimulator(main).app
    app.run(port=8000)  # served at FULL_PATH (and at /)

As the official ``inngest.experimental.digital_ocean_simulator``: each
request becomes ``main(event, context)`` with the request in
``event["http"]``, and ``context.api_host`` / ``context.function_name`` such
that the function's URL is ``FULL_PATH`` on this server.  Unlike it, the
answer's body is passed on as the platform does: a string as is (ours
returns the signed JSON text), anything else JSON-encoded.  A body that is
not UTF-8 arrives base64-encoded with ``isBase64Encoded``, as on the
platform.  Needs Flask (``pip install 'inngest-sansio[flask]'``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import attrs
import flask

__all__ = ["FULL_PATH", "DigitalOceanSimulator"]

_PATH_PREFIX = "/api/v1/web"
_NAMESPACE = "fn-00000000"
_FUNCTION_NAME = "fake-name"
#: Where the simulated function is served (the official simulator's path).
FULL_PATH = f"{_PATH_PREFIX}/{_NAMESPACE}/{_FUNCTION_NAME}"
_METHODS = ["GET", "POST", "PUT"]

Main = Callable[[Any, Any], Any]


@attrs.frozen
class _Context:
    """The part of DigitalOcean's ``context`` an Inngest handler reads."""

    api_host: str
    function_name: str


class DigitalOceanSimulator:
    """The platform's web front for one function (``.app``, a Flask app)."""

    def __init__(self, main: Main) -> None:
        """
        Args:
        ----
            main: The DigitalOcean Function's handler, ``main(event, context)``.
        """
        #: A Flask app serving ``main`` at :data:`FULL_PATH` and at ``/``.
        self.app = _create_app(main)


def _http_event(request: flask.Request) -> dict[str, object]:
    raw = request.get_data()
    http: dict[str, object] = {
        "headers": {name.lower(): value for name, value in request.headers.items()},
        "method": request.method,
        "path": "",
        "queryString": request.query_string.decode("latin-1"),
    }
    try:
        http["body"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        http["body"] = base64.b64encode(raw).decode("ascii")
        http["isBase64Encoded"] = True
    return {"http": http}


def _to_flask(answer: object) -> flask.Response:
    if not isinstance(answer, dict):
        msg = f"main() must return a dict, got {type(answer).__name__}"
        raise TypeError(msg)
    body = answer.get("body")
    if body is not None and not isinstance(body, str):
        # The platform JSON-encodes a body that is not a string.
        body = json.dumps(body)
    headers = answer.get("headers", {})
    if not isinstance(headers, dict):
        msg = f'main()\'s "headers" must be a dict, got {type(headers).__name__}'
        raise TypeError(msg)
    status = answer.get("statusCode", 200)
    if not isinstance(status, int) or isinstance(status, bool):
        msg = f'main()\'s "statusCode" must be an int, got {status!r}'
        raise TypeError(msg)
    return flask.Response(response=body, status=status, headers=headers)


def _create_app(main: Main) -> flask.Flask:
    app = flask.Flask(__name__)

    def handle() -> flask.Response:
        context = _Context(
            api_host=flask.request.url_root,
            function_name=f"/{_NAMESPACE}/{_FUNCTION_NAME}",
        )
        return _to_flask(main(_http_event(flask.request), context))

    app.add_url_rule("/", "root", handle, methods=_METHODS)
    app.add_url_rule(FULL_PATH, "function", handle, methods=_METHODS)
    return app
