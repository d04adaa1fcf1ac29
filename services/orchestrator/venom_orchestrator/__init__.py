"""The orchestrator (F-ORCH-1..4): peers, load, dispatch of tasks, REST and gRPC. See docs/ORCHESTRATOR.md."""
