"""The official SDK's app for ``bench.steps``, served in a process of its own.

``python -m bench._official_steps_app PORT STEPS``: FastAPI on uvicorn on
127.0.0.1:PORT, one function of STEPS sequential ``step.run``s, in dev mode
against the dev server ``INNGEST_BASE_URL`` names.
"""

from __future__ import annotations

import logging
import sys
import warnings

APP_ID = "bench-steps-official"
EVENT = "bench/steps"


def _identity(value: int) -> int:
    return value


def main() -> None:
    port, steps = int(sys.argv[1]), int(sys.argv[2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import fastapi  # noqa: PLC0415
        import inngest  # noqa: PLC0415
        import inngest.fast_api  # noqa: PLC0415
        import uvicorn  # noqa: PLC0415

    client = inngest.Inngest(
        app_id=APP_ID, is_production=False, logger=logging.getLogger("bench")
    )

    @client.create_function(
        fn_id="steps", trigger=inngest.TriggerEvent(event=EVENT), retries=0
    )
    def many(ctx: inngest.ContextSync) -> int:
        total = 0
        for i in range(steps):
            total += ctx.step.run(f"s{i}", _identity, i)
        return total

    app = fastapi.FastAPI()
    inngest.fast_api.serve(app, client, [many])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
