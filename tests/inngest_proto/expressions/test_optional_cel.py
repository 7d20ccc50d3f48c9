"""cel-python is optional: importing the core never imports it, and without
it evaluation fails with ExpressionError (which callers decide on and log)
rather than at import time.

Each case runs in a fresh interpreter, since this one has cel-python loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).parents[3]


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_importing_the_core_does_not_import_cel_python() -> None:
    result = run_python(
        """
        import sys
        import inngest_proto
        import inngest_proto.executor
        import inngest_proto.expressions
        from inngest_proto.expressions import ExpressionError, trigger_matcher
        loaded = sorted(m for m in ("celpy", "lark", "pendulum") if m in sys.modules)
        assert not loaded, loaded
        """
    )
    assert result.returncode == 0, result.stderr


def test_the_compiler_is_loaded_on_first_use() -> None:
    result = run_python(
        """
        import sys
        from inngest_proto import expressions
        assert expressions.matches("event.data.n > 1", {"event": {"data": {"n": 2}}})
        assert "celpy" in sys.modules
        """
    )
    assert result.returncode == 0, result.stderr


def test_without_cel_python_evaluation_raises_expression_error() -> None:
    result = run_python(
        """
        import sys
        sys.modules["celpy"] = None  # as if it were not installed
        from inngest_proto.executor import Executor
        from inngest_proto.expressions import (
            ExpressionError, evaluate_key, evaluate_value, trigger_matcher,
            wait_matcher,
        )
        Executor()  # the executor itself does not need it
        calls = [
            lambda: trigger_matcher("event.data.n > 1", {}, 0.0),
            lambda: wait_matcher("async.data.n > 1", {}, {}, 0.0),
            lambda: evaluate_key("event.data.n", {}, 0.0),
            lambda: evaluate_value("event.data.n", {}, 0.0),
        ]
        for call in calls:
            try:
                call()
            except ExpressionError as err:
                assert "needs cel-python" in str(err), err
            else:
                raise AssertionError("no ExpressionError")
        """
    )
    assert result.returncode == 0, result.stderr
