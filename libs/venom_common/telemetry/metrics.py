"""The Prometheus metrics every service shares (F-PLAT-5).

Service-specific metrics live in the service; these count what the bus does
for every one of them. Labels are bounded: the event *kind* (second subject
token), never a node id or event id.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_PUBLISHED = Counter("venom_events_published_total", "Events published", ["kind"])
EVENTS_CONSUMED = Counter("venom_events_consumed_total", "Events handled and acknowledged", ["consumer"])
EVENTS_REJECTED = Counter(
    "venom_events_rejected_total", "Messages rejected as invalid events (terminated, never retried)", ["reason"]
)
HANDLER_ERRORS = Counter(
    "venom_handler_errors_total", "Handler failures (message negatively acknowledged for redelivery)", ["consumer"]
)
HANDLE_SECONDS = Histogram(
    "venom_handle_seconds",
    "Time to handle one fetched batch, from fetch to acknowledgement",
    ["consumer"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
BUS_CONNECTED = Gauge("venom_bus_connected", "1 while connected to NATS")
SERVICE_READY = Gauge("venom_service_ready", "1 while the service reports ready")


def kind_of(subject: str) -> str:
    """The event kind of a subject: ``venom.metrics.n1`` → ``metrics``."""
    parts = subject.split(".")
    return parts[1] if len(parts) > 1 else subject
