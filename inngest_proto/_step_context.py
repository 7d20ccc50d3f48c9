"""The step API of the function running here, for code that is not handed ``ctx``.

While a function's handler runs, the engine makes its ``ctx.step`` the
current step context; :func:`step` turns a plain function into one that runs
as ``step.run`` when called there, and directly anywhere else.  A context
variable, so each thread and each task sees only its own run.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Generator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ParamSpec, TypeVar, cast

if TYPE_CHECKING:
    from ._steps import Step, StepSync

__all__ = ["BoundStep", "get_step_context", "set_step_context", "step"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

_current: contextvars.ContextVar[Step | StepSync] = contextvars.ContextVar(
    "inngest_step"
)


def get_step_context() -> Step | StepSync:
    """The step API of the function running here.

    Raises ``LookupError`` outside a function (or a :func:`set_step_context`
    block), as the official SDK does.
    """
    return _current.get()


@contextmanager
def set_step_context(step: Step | StepSync) -> Generator[None, None, None]:
    """Make ``step`` the step context while the block runs.

    Refuses to nest (``RuntimeError``): code would otherwise not know which
    run its steps belong to.  The engine sets it for every handler; call this
    only to drive decorated code with a step API of your own, e.g. in a test.
    """
    try:
        _current.get()
    except LookupError:
        pass
    else:
        msg = "Step context already set"
        raise RuntimeError(msg)
    with BoundStep(step):
        yield


class BoundStep:
    """What the engine uses around a handler: set, then restore what was there.

    Unlike :func:`set_step_context` this does not refuse to nest, so a run
    that starts another in the same thread (the test engine can) is not an
    error.  A class rather than a ``@contextmanager`` generator: it is
    entered for every call request, and costs a third as much.
    """

    __slots__ = ("_step", "_token")

    def __init__(self, step: Step | StepSync) -> None:
        self._step = step

    def __enter__(self) -> None:
        self._token = _current.set(self._step)

    def __exit__(self, *exc_info: object) -> None:
        _current.reset(self._token)


def step(step_id: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Run the decorated function as ``step.run(step_id, ...)`` inside a function.

    Called while a function runs, the call becomes a step (memoized, retried
    on its own); called anywhere else, the function just runs.  For an async
    function, ``await`` the call either way::

        @step("load-user")
        async def load_user(user_id: int) -> dict[str, str]: ...

        user = await load_user(42)  # a step inside a function
    """

    def decorator(fn: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(fn)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                current = _current.get()
            except LookupError:
                return fn(*args, **kwargs)
            # fn itself when it can be: its return annotation types the
            # memoized output on replay (a partial has none).
            handler = functools.partial(fn, **kwargs) if kwargs else fn
            # Step.run returns the awaitable the async caller awaits; StepSync
            # returns the value.  Either is what calling fn would have given.
            # ``run`` checks a handler's arguments against ``*args`` for
            # callers; here ``fn``'s own ParamSpec has checked them already.
            run = cast("Callable[..., object]", current.run)
            return cast("_R", run(step_id, handler, *args))

        return wrapper

    return decorator
