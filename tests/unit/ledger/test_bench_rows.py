"""The raw baseline's rows built before the append look like the rows the ledger stores."""

from __future__ import annotations

import json

from venom_ledger.bench import CHUNK, linked_rows
from venom_ledger.domain.chain import ZERO_HASH, entry_hash


def test_linked_rows_are_a_valid_chain_across_chunks() -> None:
    n = CHUNK + 3  # crosses a chunk boundary: the link must carry over
    rows = linked_rows(n, "bench-n1", "rawbench")
    assert [r[1] for r in rows] == list(range(1, n + 1))
    previous = ZERO_HASH
    for chain, index, timestamp, data, previous_hash, digest, event_id in rows[CHUNK - 2:CHUNK + 2] + rows[:2]:
        assert chain == "rawbench"
        assert digest == entry_hash(index, timestamp, data.encode(), previous_hash)
        assert json.loads(data)["id"] == event_id
    for row in rows:
        assert row[4] == previous
        previous = row[5]
    assert len({r[6] for r in rows}) == n  # event ids unique, as the scratch table's key requires
