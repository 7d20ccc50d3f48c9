"""Functions as the protocol describes them, for the packages built on the core.

A function's registered configuration (:class:`FunctionConfig`, whose steps
start at :data:`ROOT_STEP_ID`), the opcodes and step operations an SDK
reports (:class:`Opcode`, :class:`StepOp`), the memoized step results a call
carries (:class:`StepMemos`) and how a step's ID is hashed on the wire.
"""

from __future__ import annotations

from ._function import Function
from ._function_config import ROOT_STEP_ID, FunctionConfig
from ._memos import StepMemos
from ._opcodes import Opcode, StepOp
from ._step_ids import hash_step_id

__all__ = [
    "ROOT_STEP_ID",
    "Function",
    "FunctionConfig",
    "Opcode",
    "StepMemos",
    "StepOp",
    "hash_step_id",
]
