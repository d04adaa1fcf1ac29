"""``python -m venom_hardware_agent``: read the settings, build the agent, run it (F-HW-1, F-HW-2)."""

from __future__ import annotations

from venom_common.runner import run_service
from venom_common.settings import VenomSettings
from venom_hardware_agent.service import HardwareAgent
from venom_hardware_agent.settings import HardwareAgentSettings


def make(settings: VenomSettings) -> HardwareAgent:
    assert isinstance(settings, HardwareAgentSettings)
    return HardwareAgent(settings)


def main() -> None:
    run_service(make, HardwareAgentSettings(), HardwareAgent.name)


if __name__ == "__main__":
    main()
