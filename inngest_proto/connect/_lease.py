"""The gateway's lease on a request it delivered to a worker, without I/O.

A request goes to one worker under a lease.  The worker extends it every
``extend_interval`` (the gateway tells it the interval in
``GATEWAY_CONNECTION_READY``); each extension names the current lease id
and gets a new one (an extension repeated because its acknowledgement was
lost gets the current one back).  When the worker stops extending (it crashed, its
socket died and it never came back), the lease expires; the gateway then
waits ``grace`` more for a reply already on its way, and gives up: the
executor counts the attempt as failed and retries it at once (the worker
crashed; the function did not fail), on a worker that is still connected.

So a worker that dies mid-step has its call failed at most
``duration + grace`` after it died.  The times are values handed in (any
clock, as long as it is one clock); nothing here reads one.
"""

from __future__ import annotations

import math

import attrs

__all__ = ["LeaseTimings", "RequestLease"]


def _positive(
    instance: object, attribute: attrs.Attribute[float], value: float
) -> None:
    if not (math.isfinite(value) and value > 0):
        msg = f"{attribute.name} must be a positive number of seconds, got {value!r}"
        raise ValueError(msg)


def _not_negative(
    instance: object, attribute: attrs.Attribute[float], value: float
) -> None:
    if not (math.isfinite(value) and value >= 0):
        msg = f"{attribute.name} must be 0 or more seconds, got {value!r}"
        raise ValueError(msg)


@attrs.frozen
class LeaseTimings:
    """How long a lease lasts, how often workers extend it, and the grace
    the gateway allows after it expired (seconds).

    The defaults are the Inngest gateway's of April 2025 (its releases
    since April 2026 lease for 2 minutes): 20 s leases, extended every 5 s
    (a quarter of the lease, as there), and 5 s of grace; a worker killed
    mid-step has its call retried within 25 s.  ``extend_interval``
    must be shorter than ``duration``, or a worker doing its best would
    still lose its lease between two extensions.
    """

    duration: float = attrs.field(default=20.0, validator=_positive)
    extend_interval: float = attrs.field(
        default=attrs.Factory(lambda self: self.duration / 4, takes_self=True),
        validator=_positive,
    )
    grace: float = attrs.field(default=5.0, validator=_not_negative)

    def __attrs_post_init__(self) -> None:
        if self.extend_interval >= self.duration:
            msg = (
                f"the lease extension interval ({self.extend_interval:g} s) must be"
                f" shorter than the lease ({self.duration:g} s)"
            )
            raise ValueError(msg)

    @property
    def worst_case_failover(self) -> float:
        """The longest a call waits on a worker that died before it is
        failed and retried: the worker's last extension came before the
        crash, so the lease runs out at most ``duration`` after it, and
        the grace follows."""
        return self.duration + self.grace


class RequestLease:
    """The lease on one delivered request; see the module docstring.

    ``holder`` is the instance id of the worker it went to: only that worker
    may replay an extension whose acknowledgement it lost.
    """

    def __init__(
        self, lease_id: str, *, holder: str, now: float, timings: LeaseTimings
    ) -> None:
        self.lease_id = lease_id
        self.holder = holder
        self.timings = timings
        self.expires_at = now + timings.duration
        #: The id the last extension replaced (one only, as Inngest's gateway
        #: keeps): a replay of it gets :attr:`lease_id` back.
        self.previous_lease_id: str | None = None

    @property
    def give_up_at(self) -> float:
        """When the call fails if no reply came: expiry plus the grace."""
        return self.expires_at + self.timings.grace

    def expired(self, now: float) -> bool:
        return now >= self.expires_at

    def extend(
        self, lease_id: str, new_lease_id: str, now: float, *, by: str
    ) -> str | None:
        """A ``WORKER_REQUEST_EXTEND_LEASE`` naming ``lease_id`` from the
        worker instance ``by``: the lease id that worker holds now, or
        ``None`` when it lost the lease (it must drop the request).

        The current lease id before expiry is extended: the lease becomes
        ``new_lease_id`` for another ``duration``.  The id just replaced,
        from the holder, is an extension whose acknowledgement was lost (the
        socket carrying it died, or the worker sent it again): it gets the
        current id back, and the expiry does not move (the extension it
        repeats already moved it), as Inngest's gateway answers since
        August 2026 (inngest#4687).  Anything else is refused, and so is
        every extension once the lease expired: the request belongs to the
        retry then, even during the grace.
        """
        if self.expired(now):
            return None
        if lease_id == self.lease_id:
            self.previous_lease_id = self.lease_id
            self.lease_id = new_lease_id
            self.expires_at = now + self.timings.duration
            return self.lease_id
        if lease_id == self.previous_lease_id and by == self.holder:
            return self.lease_id
        return None
