"""The ledger's own Prometheus metrics (the bus counts consumed and rejected events for every service)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

APPENDED = Counter("venom_ledger_entries_appended_total", "Entries appended to the chain", ["chain"])
DUPLICATES = Counter("venom_ledger_duplicates_skipped_total",
                     "Events already in the chain (redelivered or republished), skipped without an index", ["chain"])
REJECTED = Counter("venom_ledger_events_rejected_total",
                   "Messages on a recorded subject that are not valid events: terminated, never recorded", ["reason"])
CHECKPOINTS = Counter("venom_ledger_checkpoints_total", "Signed checkpoints stored", ["chain"])
TREE_SIZE = Gauge("venom_ledger_tree_size", "Entries in the chain, genesis included (writer's view)", ["chain"])
WRITER = Gauge("venom_ledger_writer", "1 while this instance holds the chain's writer lock", ["chain"])
APPEND_SECONDS = Histogram(
    "venom_ledger_append_seconds", "Time to append one batch (one transaction)", ["chain"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
