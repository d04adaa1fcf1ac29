"""python -m venom_organs  (VENOM_ORGAN=regen|balance|entropy|optimize)"""

from venom_common.runner import run_service

from venom_organs.service import OrganService
from venom_organs.settings import OrganSettings


def main() -> None:
    settings = OrganSettings()  # type: ignore[call-arg]
    run_service(OrganService, settings, f"organ-{settings.organ}")


if __name__ == "__main__":
    main()
