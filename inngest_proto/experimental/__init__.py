"""Experimental APIs, named as in the official SDK's ``inngest.experimental``.

``step`` turns a plain function into a step when it is called while an
Inngest function runs (``get_step_context`` gives that function's step API),
so helpers deep in an app need no ``ctx`` passed down.
"""

from .._step_context import get_step_context, set_step_context, step

__all__ = ["get_step_context", "set_step_context", "step"]
