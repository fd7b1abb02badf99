"""Figures counted on an event loop are written once at the end of the loop's turn, and then
read exactly as if each had been written at once; off a loop they are written at once."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from commex.adapters import metrics

BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05)
SEEN = [0.001, 0.002, 0.0021, 0.004, 0.01, 0.03, 0.05, 0.07, 7.0, 0.002]


def _figures() -> tuple[CollectorRegistry, Counter, Histogram]:
    registry = CollectorRegistry()
    counter = Counter("answers", "Answers.", ["status"], registry=registry)
    latency = Histogram("latency_seconds", "Latency.", buckets=BUCKETS, registry=registry)
    return registry, counter, latency


def test_every_value_lands_in_the_bucket_and_sum_that_observe_gives_it() -> None:
    one_by_one, _, each = _figures()
    together, _, batch = _figures()
    for value in SEEN:
        each.observe(value)
    metrics.observe_all(batch, SEEN)
    assert _samples(together) == pytest.approx(_samples(one_by_one))


def _samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels.get("le", "")): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_what_a_loop_counts_in_a_turn_is_written_at_its_end() -> None:
    registry, counter, latency = _figures()
    created = counter.labels("201")

    def read() -> tuple[float | None, float | None]:
        return (
            registry.get_sample_value("answers_total", {"status": "201"}),
            registry.get_sample_value("latency_seconds_count"),
        )

    async def answer_three() -> tuple[float | None, float | None]:
        for seconds in (0.001, 0.02, 3.0):
            metrics.count(created)
            metrics.observe(latency, seconds)
        during = read()
        await asyncio.sleep(0)  # the turn ends
        return during

    assert asyncio.run(answer_three()) == (0.0, 0.0)
    assert read() == (3.0, 3.0)
    assert registry.get_sample_value("latency_seconds_bucket", {"le": "0.025"}) == 2.0


def test_counted_off_a_loop_it_is_written_at_once() -> None:
    registry, counter, latency = _figures()
    metrics.count(counter.labels("409"))
    metrics.observe(latency, 0.004)
    assert registry.get_sample_value("answers_total", {"status": "409"}) == 1.0
    assert registry.get_sample_value("latency_seconds_sum") == 0.004
