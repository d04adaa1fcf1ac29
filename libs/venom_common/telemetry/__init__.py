"""Telemetry: JSON logs, OpenTelemetry tracing, Prometheus metrics."""

from venom_common.telemetry.logs import setup_logging
from venom_common.telemetry.tracing import setup_tracing, tracer

__all__ = ["setup_logging", "setup_tracing", "tracer"]
