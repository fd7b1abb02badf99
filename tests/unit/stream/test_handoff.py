"""Segments handed to pool workers through shared memory come out as the same packets."""

from __future__ import annotations

import os
import stat

import numpy as np
from stream_helpers import make_batch, same

from commex.stream import handoff


def test_a_batch_put_in_a_slot_reads_back_the_same_and_only_we_may_read_it() -> None:
    pool = handoff.SlotPool(2, size=1 << 20)
    try:
        slot = pool.acquire()
        assert slot is not None
        assert stat.S_IMODE(os.stat(slot.path).st_mode) == 0o600
        batch = make_batch(300, streams=3)
        shared = slot.put(batch)
        assert shared is not None
        assert same(handoff.read(shared), batch)
        # Too big for a slot: the caller is told, so it can use the pipe instead.
        huge = make_batch(8000, payload=160)
        assert slot.put(huge) is None
        assert pool.acquire() is not None
        assert pool.acquire() is None  # both slots in use
        pool.release(slot)
        assert pool.acquire() is slot
    finally:
        pool.close()
    assert not slot.path.exists()


def test_columns_keep_their_types_and_alignment() -> None:
    pool = handoff.SlotPool(1, size=1 << 20)
    try:
        slot = pool.acquire()
        assert slot is not None
        shared = slot.put(make_batch(5))
        assert shared is not None
        assert all(offset % 64 == 0 for _, _, _, offset in shared.layout)
        read = handoff.read(shared)
        assert read.seq.dtype == np.uint16 and read.arrival_us.dtype == np.int64
    finally:
        pool.close()


def test_a_worker_answers_in_the_slot_after_the_segment() -> None:
    pool = handoff.SlotPool(1, size=1 << 20)
    try:
        slot = pool.acquire()
        assert slot is not None
        batch = make_batch(200)
        shared = slot.put(batch)
        assert shared is not None
        new_payload = np.full(batch.payload.shape, 0x55, dtype=np.uint8)
        layout = handoff.write_back(shared, {"payload": new_payload})
        assert layout is not None
        assert all(at >= shared.free_from for _, _, _, at in layout)  # the segment stays whole
        assert same(handoff.read(shared), batch)
        back = slot.take(layout)
        assert np.array_equal(back["payload"], new_payload)
        # An answer too big for the free space goes through the pipe instead.
        assert handoff.write_back(shared, {"payload": np.zeros(1 << 20, np.uint8)}) is None
    finally:
        pool.close()
