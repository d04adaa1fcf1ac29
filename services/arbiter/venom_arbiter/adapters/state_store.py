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
        replayed = await self._replay_genome_events(state)
        if replayed:
            log.info("replayed %d genome events: resuming at beat %d", replayed, state.beat)
        return state

    async def _replay_genome_events(self, state: ArbiterState) -> int:
        subject = subjects.genome(self.node)
        try:
            last = await self.bus.js.get_last_msg(EVENTS.name, subject)
        except NotFoundError:
            return 0
        if last.seq <= state.genome_seq:
            return 0
        sub = await self.bus.js.subscribe(
            subject, ordered_consumer=True, deliver_policy=js_api.DeliverPolicy.BY_START_SEQUENCE,
            config=js_api.ConsumerConfig(opt_start_seq=state.genome_seq + 1), stream=EVENTS.name,
        )
        count = 0
        try:
            while True:
                msg = await asyncio.wait_for(sub.next_msg(timeout=5), 10)
                event = decode(msg.data, GenomeV1)
                state.apply(event.data, msg.metadata.sequence.stream)
                count += 1
                if msg.metadata.sequence.stream >= last.seq:
                    break
        finally:
            await sub.unsubscribe()
        return count

    async def partial_pulse(self, state: ArbiterState) -> tuple[str, Any] | None:
        """The pulse of beat ``state.beat`` if it was published before a crash (its id and time are reused)."""
        try:
            last = await self.bus.js.get_last_msg(EVENTS.name, subjects.beat(self.node))
        except NotFoundError:
            return None
        event = decode(last.data, PulseV1)
        if event.data.beat == state.beat:
            return event.id, event.time
        return None
