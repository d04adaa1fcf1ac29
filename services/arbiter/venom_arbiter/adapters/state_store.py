"""Snapshot in JetStream KV and replay of the arbiter's own genome events (F-ARB-7)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from nats.js import api as js_api
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError

from venom_common.bus import Bus
from venom_common.canonical import canonical_dumps, strict_loads
from venom_common.events import decode, subjects
from venom_common.events.payloads import GenomeV1, PulseV1
from venom_common.streams import EVENTS

from venom_arbiter.domain.state import ArbiterState

log = logging.getLogger("venom.arbiter.state")

SNAPSHOT_BUCKET = "VENOM_ARBITER"
QUARANTINE_BUCKET = "VENOM_QUARANTINE"


async def kv_bucket(bus: Bus, name: str, history: int = 1) -> Any:
    try:
        return await bus.js.key_value(name)
    except (BucketNotFoundError, NotFoundError):
        return await bus.js.create_key_value(js_api.KeyValueConfig(bucket=name, history=history))


class StateStore:
    def __init__(self, bus: Bus, node: str) -> None:
        self.bus = bus
        self.node = node
        self._kv: Any = None
        self._snapshot_seq = 0  # stream sequence the last load() replayed from

    async def open(self) -> None:
        self._kv = await kv_bucket(self.bus, SNAPSHOT_BUCKET)

    async def save(self, state: ArbiterState) -> None:
        await self._kv.put(self.node, canonical_dumps(state.to_snapshot()))

    async def load(self) -> ArbiterState:
        """The snapshot (if any) plus every genome event of this node published after it."""
        state = ArbiterState()
        try:
            entry = await self._kv.get(self.node)
            state = ArbiterState.from_snapshot(strict_loads(entry.value))
            log.info("snapshot at beat %d (genome seq %d)", state.beat, state.genome_seq)
        except KeyNotFoundError:
            log.info("no snapshot for node %s: replaying its genome events from the start", self.node)
        self._snapshot_seq = state.genome_seq
        replayed = await self._replay_genome_events(state)
        if replayed:
            log.info("replayed %d genome events: resuming at beat %d", replayed, state.beat)
        return state

    async def _read_after(self, subject: str, after_seq: int) -> list[tuple[Any, int]]:
        """Every message of ``subject`` stored after stream sequence ``after_seq``: (data, stream seq)."""
        try:
            last = await self.bus.js.get_last_msg(EVENTS.name, subject)
        except NotFoundError:
            return []
        if last.seq <= after_seq:
            return []
        sub = await self.bus.js.subscribe(
            subject, ordered_consumer=True, deliver_policy=js_api.DeliverPolicy.BY_START_SEQUENCE,
            config=js_api.ConsumerConfig(opt_start_seq=after_seq + 1), stream=EVENTS.name,
        )
        out: list[tuple[Any, int]] = []
        try:
            while True:
                msg = await asyncio.wait_for(sub.next_msg(timeout=5), 10)
                out.append((msg.data, msg.metadata.sequence.stream))
                if msg.metadata.sequence.stream >= last.seq:
                    break
        finally:
            await sub.unsubscribe()
        return out

    async def _replay_genome_events(self, state: ArbiterState) -> int:
        """Apply the genome events after the snapshot in beat order, up to the first missing beat.

        The arbiter pipelines beats, so after NATS lost a connection mid-flight a later beat's events
        can be stored before an earlier beat's resent ones: order by beat, not by stream sequence.
        """
        by_beat: dict[int, tuple[GenomeV1, int]] = {}
        for data, seq in await self._read_after(subjects.genome(self.node), state.genome_seq):
            event = decode(data, GenomeV1)
            by_beat.setdefault(event.data.beat, (event.data, seq))
        count = 0
        while state.beat in by_beat:
            genome, seq = by_beat[state.beat]
            state.apply(genome, seq)
            count += 1
        later = sorted(b for b in by_beat if b > state.beat)
        if later:
            log.warning("genome events of beats %s follow a missing beat %d: that beat and the ones after it "
                        "are run again with their stored pulse ids", later, state.beat)
        return count

    async def unstored_pulses(self, state: ArbiterState) -> dict[int, tuple[str, Any]]:
        """Pulses of beats at or after ``state.beat`` that were published before a crash: their ids and times
        are reused, so re-running those beats gives the same event ids (JetStream and the ledger keep one copy)."""
        pulses: dict[int, tuple[str, Any]] = {}
        # From the snapshot, not from the last genome event: a resent genome event can be stored after
        # the next beat's pulse.
        for data, _seq in await self._read_after(subjects.beat(self.node), self._snapshot_seq):
            event = decode(data, PulseV1)
            if event.data.beat >= state.beat:
                pulses.setdefault(event.data.beat, (event.id, event.time))
        return pulses
