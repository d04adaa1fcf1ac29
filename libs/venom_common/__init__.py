"""venom_common: what every VENOM service shares.

Settings, the event envelope and payload schemas, the one module naming every
subject, the NATS bus client, telemetry (OpenTelemetry, Prometheus, JSON logs),
canonical JSON, the core maths of the seeds, embedded servers for local mode
and the service runner.
"""

__version__ = "0.1.0"
