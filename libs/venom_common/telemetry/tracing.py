"""OpenTelemetry tracing (F-PLAT-4).

A service calls :func:`setup_tracing` once. With an OTLP endpoint configured
(``VENOM_OTLP_ENDPOINT``, e.g. Jaeger's ``http://127.0.0.1:4318``) every span is
recorded and exported over OTLP/HTTP in batches; without one, spans are not
recorded (sampler off) but trace ids are still made and carried in NATS headers.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor

_provider: TracerProvider | None = None


def setup_tracing(
    service: str,
    node: str,
    otlp_endpoint: str | None,
    extra_processors: list[SpanProcessor] | None = None,
) -> TracerProvider:
    """Install the process's tracer provider (idempotent: a second call returns the first)."""
    global _provider
    if _provider is not None:
        return _provider
    exporting = bool(otlp_endpoint) or bool(extra_processors)
    # With nowhere to send spans, record none (ALWAYS_OFF): the trace context is still created and
    # carried in every message's traceparent header, at a fraction of the cost of recorded spans.
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"venom-{service}", "service.namespace": "venom", "host.name": node}),
        sampler=sampling.ParentBased(sampling.ALWAYS_ON) if exporting else sampling.ALWAYS_OFF,
    )
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    for processor in extra_processors or []:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def shutdown_tracing() -> None:
    if _provider is not None:
        _provider.shutdown()


def spans_may_record() -> bool:
    """False when no span can be recorded: no SDK provider, or the ALWAYS_OFF sampler that
    :func:`setup_tracing` installs when there is no exporter. Hot paths then skip making spans."""
    provider = trace.get_tracer_provider()
    sampler = getattr(provider, "sampler", None)
    if sampler is None:
        return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)
    return sampler.get_description() != "AlwaysOffSampler"


def tracer(name: str = "venom") -> trace.Tracer:
    return trace.get_tracer(name)


def inject_headers(headers: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Write the current trace context (W3C ``traceparent``) into NATS headers."""
    propagate.inject(headers)
    return headers


def extract_context(headers: Mapping[str, str] | None) -> otel_context.Context:
    """The trace context carried by a message's headers (empty when none)."""
    return propagate.extract(dict(headers or {}))
