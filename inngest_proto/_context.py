"""What a function receives: the run's events, ids, attempt, and the step API."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from ._events import Event

if TYPE_CHECKING:
    from ._steps import Group, GroupSync, Step, StepSync

__all__ = ["Context", "ContextSync"]


# Plain dataclasses, as the official SDK's, for middleware that inspects the
# context (``vars(ctx)``, ``dataclasses.replace``); mutable for
# ``transform_input``.  The fields are in the official order, so a test that
# builds one positionally, as for the official SDK, builds the same context.


@dataclasses.dataclass
class Context:
    """Async function context.

    ``attempt`` is 0-based (retries are >= 1); ``events`` holds every event of
    a batch, ``event`` the first.  Mutable so middleware's ``transform_input``
    can adjust it.
    """

    attempt: int
    event: Event
    events: list[Event]
    group: Group
    job_id: str | None
    logger: logging.Logger | Any
    request_id: str | None
    run_id: str
    step: Step
    max_attempts: int | None = None


@dataclasses.dataclass
class ContextSync:
    """Sync function context; the same fields with the sync step API."""

    attempt: int
    event: Event
    events: list[Event]
    group: GroupSync
    job_id: str | None
    logger: logging.Logger | Any
    request_id: str | None
    run_id: str
    step: StepSync
    max_attempts: int | None = None
