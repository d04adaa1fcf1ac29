"""python -m venom_orchestrator"""

import asyncio

from venom_common.runner import run_service

from venom_orchestrator.service import OrchestratorService
from venom_orchestrator.settings import OrchestratorSettings


def main() -> None:
    settings = OrchestratorSettings()
    if settings.uvloop:
        try:
            import uvloop
        except ImportError:  # the orchestrator extra installs it; the standard loop works too, slower
            pass
        else:
            # The REST hot path (POST /tasks → NATS request → answer) is event-loop bound: uvloop's
            # loop and transports cut the orchestrator's CPU per task (docs/BENCHMARKS.md "Dispatch").
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    run_service(OrchestratorService, settings, "orchestrator")


if __name__ == "__main__":
    main()
