"""The work the comm handler's protocol flow asks its driver to do.

The flow (a generator) yields one of these and is resumed with the result,
so the protocol is written once and the async and sync drivers stay thin.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

import attrs

from ._call_request import CallRequest
from ._http_values import OutboundRequest
from ._middleware import MiddlewareManager

if TYPE_CHECKING:
    from ._function import Function

__all__ = ["Effect", "Fetch", "RunHandler"]


@attrs.frozen
class Fetch:
    """Send these requests (in order); resume with their responses."""

    requests: tuple[OutboundRequest, ...]
    #: What the requests are for, as named in ``Server-Timing``.
    label: str = "fetch"


@attrs.frozen
class RunHandler:
    """Run a handler for a call request; resume with its Outcome."""

    function: Function[Any]
    handler: Any
    request: CallRequest
    target: str | None
    now: datetime.datetime
    mw: MiddlewareManager


Effect = Fetch | RunHandler
