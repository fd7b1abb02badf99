"""Ids are random, unique, and a forked process does not repeat its parent's."""

from __future__ import annotations

import os
import re
import threading

from commex.adapters.clock import RandomIds, random_hex


def test_ids_are_the_prefix_and_80_random_bits_each_once() -> None:
    ids = RandomIds()
    made = [ids.new("bid") for _ in range(5000)]
    assert all(re.fullmatch(r"bid_[0-9a-f]{20}", i) for i in made)
    assert len(set(made)) == len(made)


def test_threads_drawing_at_once_never_share_digits() -> None:
    seen: list[list[str]] = [[] for _ in range(4)]

    def draw(into: list[str]) -> None:
        into.extend(random_hex(32) for _ in range(3000))

    threads = [threading.Thread(target=draw, args=(s,)) for s in seen]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [x for s in seen for x in s]
    assert len(set(every)) == len(every) == 12000


def test_a_forked_process_draws_its_own() -> None:
    random_hex(2)  # the pool holds digits the parent has not handed out yet
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's side
        os.write(write, random_hex(64).encode())
        os._exit(0)
    os.close(write)
    theirs = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(child, 0)
    assert len(theirs) == 64 and theirs != random_hex(64)
