"""The executor core of the embedded dev server: pure, deterministic, no I/O.

:class:`Executor` takes events, SDK replies, model replies, timer firings and
cancellations, each with the current time, and returns actions
(:class:`CallSDK`, :class:`CallAI`, :class:`SetTimer`, :class:`CancelTimer`,
:class:`EmitEvent`, :class:`RunStarted`, :class:`RunFinished`,
:class:`WaitResumed`) for a driver to perform.  Its whole
memory is :class:`ExecutorState`, plain data a storage layer can persist.
"""

from __future__ import annotations

from ._actions import (
    Action,
    CallAI,
    CallFailure,
    CallSDK,
    CancelTimer,
    EmitEvent,
    RunFinished,
    RunSkipped,
    RunStarted,
    SetTimer,
    WaitResumed,
)
from ._checkpoint import Checkpoint, CheckpointRejected, parse_checkpoint
from ._endpoints import (
    HTTP_REQUEST_EVENT,
    EndpointRun,
    EndpointSteps,
    api_result,
    endpoint_app_uuid,
    endpoint_function_uuid,
    output_token,
    output_token_run,
    parse_endpoint_run,
    parse_endpoint_steps,
)
from ._event_api import InProcessAPI
from ._executor import Executor
from ._ids import function_uuid, ulid
from ._ingest import (
    MAX_EVENT_BYTES,
    InvalidEventBody,
    normalize_event,
    read_event_body,
    surrogate_message,
    too_deep,
)
from ._lifecycle import failure_error
from ._matching import (
    ExpressionError,
    KeyEvaluator,
    TriggerMatcher,
    ValueEvaluator,
    WaitMatcher,
)
from ._registration import (
    FLOW_CONTROL_KEYS,
    ConfigProblem,
    ExpressionCheck,
    ExpressionUse,
    InvalidFunctionConfig,
    expressions_of,
    read_function_config,
)
from ._registry import DEFAULT_RETRIES, RegisteredFunction
from ._reply import (
    MAX_DATA_DEPTH,
    AttemptFailed,
    FunctionOutput,
    Reply,
    read_reply,
)
from ._runbook import Changes
from ._server_auth import SERVER_KIND_CLOUD, SERVER_KIND_DEV, ServerAuth
from ._state import (
    Batched,
    Debounced,
    ExecutorState,
    FlowDelay,
    Invoke,
    Job,
    JobKind,
    Run,
    RunStatus,
    Timer,
    TimerKind,
    Wait,
)
from ._timing import resolve_time

__all__ = [
    "DEFAULT_RETRIES",
    "FLOW_CONTROL_KEYS",
    "HTTP_REQUEST_EVENT",
    "MAX_DATA_DEPTH",
    "MAX_EVENT_BYTES",
    "SERVER_KIND_CLOUD",
    "SERVER_KIND_DEV",
    "Action",
    "AttemptFailed",
    "Batched",
    "CallAI",
    "CallFailure",
    "CallSDK",
    "CancelTimer",
    "Changes",
    "Checkpoint",
    "CheckpointRejected",
    "ConfigProblem",
    "Debounced",
    "EmitEvent",
    "EndpointRun",
    "EndpointSteps",
    "Executor",
    "ExecutorState",
    "ExpressionCheck",
    "ExpressionError",
    "ExpressionUse",
    "FlowDelay",
    "FunctionOutput",
    "InProcessAPI",
    "InvalidEventBody",
    "InvalidFunctionConfig",
    "Invoke",
    "Job",
    "JobKind",
    "KeyEvaluator",
    "RegisteredFunction",
    "Reply",
    "Run",
    "RunFinished",
    "RunSkipped",
    "RunStarted",
    "RunStatus",
    "ServerAuth",
    "SetTimer",
    "Timer",
    "TimerKind",
    "TriggerMatcher",
    "ValueEvaluator",
    "Wait",
    "WaitMatcher",
    "WaitResumed",
    "api_result",
    "endpoint_app_uuid",
    "endpoint_function_uuid",
    "expressions_of",
    "failure_error",
    "function_uuid",
    "normalize_event",
    "output_token",
    "output_token_run",
    "parse_checkpoint",
    "parse_endpoint_run",
    "parse_endpoint_steps",
    "read_event_body",
    "read_function_config",
    "read_reply",
    "resolve_time",
    "surrogate_message",
    "too_deep",
    "ulid",
]
