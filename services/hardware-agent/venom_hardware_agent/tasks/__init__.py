"""The task worker every peer runs (issue 5 item 3; F-ORCH-2): tasks arrive on ``venom.task.<node>``.

See :mod:`.worker` for the transport and :mod:`.handlers` for the built-in types and the registry.
"""

from venom_hardware_agent.tasks.handlers import TaskFailed, TaskHandler, TaskRegistry, default_registry
from venom_hardware_agent.tasks.worker import TaskWorker

__all__ = ["TaskFailed", "TaskHandler", "TaskRegistry", "TaskWorker", "default_registry"]
