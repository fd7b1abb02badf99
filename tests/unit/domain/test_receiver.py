"""A receiver's RTCP figures on a delivery (S9): read exactly from the wire, refused with the
figure named when out of range, and a breach found by the receiver's measure when the sender's
own rate met the minimum."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from commex.domain.errors import InvalidInput
from commex.domain.receiver import ReceiverReport, receiver_report
from commex.domain.service_level import Delivery

FIGURES = {"streams": 2, "fraction_lost": 0.25, "cumulative_lost": 3, "jitter_ms": 20.125,
           "round_trip_ms": 1.5}  # fmt: skip


def _delivery(achieved: int, receiver: ReceiverReport | None, min_rate: int | None = 64_000):
    at = datetime(2026, 12, 3, tzinfo=UTC)
    return Delivery("dlv_1", "con_1", "acc_p", "run-1", 1000, 1000, 1, 1, achieved, min_rate, at,
                    receiver)  # fmt: skip


def test_the_figures_are_read_exactly_and_shown_as_sent() -> None:
    got = receiver_report(FIGURES)
    assert got == ReceiverReport(2, 250_000, 3, 20_125, 1_500)
    assert got is not None and got.to_dict() == FIGURES
    assert receiver_report(None) is None
    no_trip = receiver_report({**FIGURES, "round_trip_ms": None})
    assert no_trip is not None and no_trip.round_trip_us is None


@pytest.mark.parametrize(
    ("figures", "field"),
    [
        ({**FIGURES, "fraction_lost": 1.5}, "receiver.fraction_lost"),
        ({**FIGURES, "fraction_lost": "0.1"}, "receiver.fraction_lost"),
        ({**FIGURES, "cumulative_lost": -1}, "receiver.cumulative_lost"),
        ({**FIGURES, "streams": 0}, "receiver.streams"),
        ({**FIGURES, "jitter_ms": float("nan")}, "receiver.jitter_ms"),
        ({**FIGURES, "round_trip_ms": 4_000_000}, "receiver.round_trip_ms"),
        ({**FIGURES, "loss": 1}, "receiver.loss"),
        ({k: v for k, v in FIGURES.items() if k != "jitter_ms"}, "receiver.jitter_ms"),
        ([1, 2], "receiver"),
    ],
)
def test_a_bad_figure_is_refused_by_name(figures: object, field: str) -> None:
    with pytest.raises(InvalidInput) as bad:
        receiver_report(figures)
    assert bad.value.field == field


def test_a_breach_says_which_side_measured_it() -> None:
    lossy = receiver_report({**FIGURES, "fraction_lost": 0.25})
    clean = receiver_report({**FIGURES, "fraction_lost": 0})
    assert _delivery(50_000, clean).breach_by == "sender"  # its own rate is below already
    assert _delivery(80_000, lossy).breach_by == "receiver"  # 80k sent, 60k got
    assert _delivery(80_000, lossy).breach
    assert _delivery(90_000, lossy).breach_by is None  # 67.5k got: met
    assert _delivery(80_000, None).breach_by is None
    assert _delivery(10, lossy, min_rate=None).breach_by is None  # no minimum: not measured
