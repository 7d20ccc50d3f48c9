"""``Middleware.request_headers``: the call request's headers, for integrations.

(A core feature, tested here next to the middleware that needs it.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto._middleware import MiddlewareManager
from tests.inngest_proto._comm_helpers import make_client

from ._app import CASES, Flavour, make_app, post

pytestmark = pytest.mark.anyio


def _recording(seen: list[Mapping[str, str]], base: type) -> Any:
    class Recorder(base):  # type: ignore[misc]
        # The official signature, untouched: headers come without it.
        def __init__(self, client: Any, raw_request: object) -> None:
            super().__init__(client, raw_request)
            seen.append(self.request_headers)  # not filled yet

        def transform_input(self, ctx: Any, function: Any, steps: Any) -> Any:
            seen.append(self.request_headers)

    return Recorder


@pytest.mark.parametrize(("flavour", "driver"), CASES)
async def test_hooks_see_the_request_headers_lower_cased(
    flavour: Flavour, driver: Any
) -> None:
    seen: list[Mapping[str, str]] = []
    handler = make_app([_recording(seen, inngest.MiddlewareSync)])
    headers = {"TraceParent": "00-abc", "X-Custom": "v"}
    await post(handler, f"two-{flavour}", driver, headers=headers)
    in_init, in_hook = seen
    assert in_init == {}
    assert in_hook["traceparent"] == "00-abc"
    assert in_hook["x-custom"] == "v"
    assert "TraceParent" not in in_hook
    with pytest.raises(TypeError):
        in_hook["x-custom"] = "changed"  # type: ignore[index]


def test_the_property_is_read_only_and_empty_without_a_request() -> None:
    seen: list[Mapping[str, str]] = []
    client = make_client()
    mw = _recording(seen, inngest.Middleware)(client, None)
    assert mw.request_headers == {}
    with pytest.raises(AttributeError):
        mw.request_headers = {"a": "b"}


def test_manager_create_copies_and_lower_cases() -> None:
    seen: list[Mapping[str, str]] = []
    given = {"A-Header": "1"}
    factory = _recording(seen, inngest.MiddlewareSync)
    manager = MiddlewareManager.create([factory], make_client(), None, given)
    given["A-Header"] = "2"
    manager.call_sync("transform_input", None, None, None)
    assert seen[-1] == {"a-header": "1"}
    # Without headers (as for client.send): empty.
    MiddlewareManager.create([factory], make_client(), None).call_sync(
        "transform_input", None, None, None
    )
    assert seen[-1] == {}
