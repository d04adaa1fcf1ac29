"""python -m venom_arbiter"""

from venom_common.runner import run_service

from venom_arbiter.service import ArbiterService
from venom_arbiter.settings import ArbiterSettings


def main() -> None:
    run_service(ArbiterService, ArbiterSettings(), "arbiter")


if __name__ == "__main__":
    main()
