"""gRPC VenomService (F-ORCH-4); proto in services/orchestrator/proto/venom.proto, generated code committed."""
