"""python -m venom_orchestrator"""

from venom_common.runner import run_service

from venom_orchestrator.service import OrchestratorService
from venom_orchestrator.settings import OrchestratorSettings


def main() -> None:
    run_service(OrchestratorService, OrchestratorSettings(), "orchestrator")


if __name__ == "__main__":
    main()
