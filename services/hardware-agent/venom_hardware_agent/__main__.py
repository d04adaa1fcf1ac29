"""``python -m venom_hardware_agent``: read the settings, build the agent, run it (F-HW-1, F-HW-2)."""

from __future__ import annotations

import logging

from venom_common.runner import run_service
from venom_common.settings import VenomSettings
from venom_hardware_agent.adapters.replay_csv import ReplayFileError
from venom_hardware_agent.service import HardwareAgent
from venom_hardware_agent.settings import HardwareAgentSettings

#: Exit status when the replay file cannot be played (the log line names the file and line).
EXIT_BAD_REPLAY_FILE = 2


def make(settings: VenomSettings) -> HardwareAgent:
    assert isinstance(settings, HardwareAgentSettings)
    return HardwareAgent(settings)


def main() -> None:
    try:
        run_service(make, HardwareAgentSettings(), HardwareAgent.name)
    except ReplayFileError as exc:
        logging.getLogger("venom.hardware").error("cannot replay: %s", exc)
        raise SystemExit(EXIT_BAD_REPLAY_FILE) from None


if __name__ == "__main__":
    main()
