"""Reputation (R4): per account and role, a beta reputation over decayed rating weight.

Every rating adds weight to the positive or the negative side of the rated account's
reputation in one role (provider, or recipient as payer). Weight decays exponentially with a
half-life of :data:`HALF_LIFE_DAYS` (180 days), so a rating half a year old counts half. One
counterparty (an owner, whichever of its accounts rates) holds at most :data:`PAIR_CAP` (3.0) of
rating weight in another's reputation, decayed like the rest, so flooding ratings from one side
moves a reputation no further than three fresh ratings. People see a score, the count of
ratings in the last :data:`WINDOW_DAYS` (365) days and that window; rankings use the Wilson lower
bound, so one good rating does not outrank a long good record.

The state is kept incrementally: a :class:`Tally` per account and role, and a
:class:`PairTally` per (counterparty, account, role), each decayed to the moment it is read.
The rules never read a clock: every moment is passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from commex.domain.service_level import ServiceLevel

HALF_LIFE_DAYS = 180
PAIR_CAP = 3.0
WINDOW_DAYS = 365

_Z = 1.96  # 95% two-sided normal quantile for the Wilson lower bound
_SECONDS_PER_DAY = 86400.0
_DAYS_PER_MONTH = 30.4


@dataclass(frozen=True, slots=True)
class Reputation:
    """Positive and negative (decayed) rating weight, the raw count and the window shown."""

    positive: float = 0.0
    negative: float = 0.0
    count: int = 0
    window_days: int = WINDOW_DAYS
    service: ServiceLevel | None = None  # measured deliveries beside a provider's ratings (R6)

    @property
    def score(self) -> float:
        """The mean of the beta posterior with a uniform prior: 0.5 with no ratings."""
        return (self.positive + 1.0) / (self.positive + self.negative + 2.0)

    @property
    def lower_bound(self) -> float:
        """The Wilson lower bound of the positive share: ranks a long good record above one
        good rating, and is 0 with no ratings."""
        n = self.positive + self.negative
        if n <= 0:
            return 0.0
        p = self.positive / n
        z2 = _Z * _Z
        centre = p + z2 / (2 * n)
        margin = _Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
        return max(0.0, (centre - margin) / (1 + z2 / n))

    def lower_bound_decimal(self) -> Decimal:
        """The lower bound as an exact decimal of six places, for price arithmetic."""
        return Decimal(f"{self.lower_bound:.6f}")

    def describe(self) -> str:
        """For people: ``96% positive, 212 ratings in the last 12 months``, or ``no ratings
        yet`` when there is neither a recent rating nor any weight left; a provider's measured
        deliveries follow (``; 1 of 4 measured deliveries below the minimum rate``)."""
        ratings = self._describe_ratings()
        if self.service is None or self.service.measured == 0:
            return ratings
        return f"{ratings}; {self.service.describe()}"

    def _describe_ratings(self) -> str:
        total = self.positive + self.negative
        if self.count == 0 and total <= 0:
            return "no ratings yet"
        months = round(self.window_days / _DAYS_PER_MONTH)
        period = "the last month" if months == 1 else f"the last {months} months"
        if self.count == 0:
            counted = "no ratings"
        else:
            counted = f"{self.count} {'rating' if self.count == 1 else 'ratings'}"
        if total <= 0:
            return f"{counted} in {period}"
        return f"{_percent(self.positive, total)}% positive, {counted} in {period}"

    def to_dict(self) -> dict[str, Any]:
        """The wire form of SPEC section 8 (Rep), with ``sla`` (measured deliveries and
        breaches) for a provider."""
        out: dict[str, Any] = {
            "score": round(self.score, 4),
            "lower_bound": round(self.lower_bound, 4),
            "positive": round(self.positive, 4),
            "negative": round(self.negative, 4),
            "count": self.count,
            "window_days": self.window_days,
        }
        if self.service is not None:
            out["sla"] = self.service.to_dict()
        return out


NO_RATINGS = Reputation()


def _percent(part: float, total: float) -> int:
    """A whole percentage that says 100 only when nothing is negative and 0 only when nothing is
    positive: one bad rating among hundreds still shows."""
    share = round(100 * part / total)
    if share == 100 and part < total:
        return 99
    if share == 0 and part > 0:
        return 1
    return share


def decay_factor(since: datetime, now: datetime) -> float:
    """How much of a weight recorded at ``since`` is left at ``now``: halves every
    :data:`HALF_LIFE_DAYS`; 1.0 when ``now`` is not after ``since``."""
    if now <= since:
        return 1.0
    days = (now - since).total_seconds() / _SECONDS_PER_DAY
    return float(0.5 ** (days / HALF_LIFE_DAYS))


@dataclass(frozen=True, slots=True)
class Tally:
    """An account's decayed positive and negative rating weight in one role, as of a moment."""

    positive: float
    negative: float
    as_of: datetime

    def at(self, now: datetime) -> Tally:
        """The tally decayed to ``now``; never grows, and a ``now`` before ``as_of`` leaves it
        unchanged (time does not run backwards)."""
        if now <= self.as_of:
            return self
        factor = decay_factor(self.as_of, now)
        return Tally(self.positive * factor, self.negative * factor, now)


@dataclass(frozen=True, slots=True)
class PairTally:
    """The decayed rating weight one counterparty (owner) has put into an account's reputation
    in one role: what :data:`PAIR_CAP` bounds."""

    weight: float
    as_of: datetime

    def at(self, now: datetime) -> PairTally:
        """The weight decayed to ``now``; unchanged for a ``now`` before ``as_of``."""
        if now <= self.as_of:
            return self
        return PairTally(self.weight * decay_factor(self.as_of, now), now)


def add_rating(
    tally: Tally | None,
    pair: PairTally | None,
    satisfied: bool,
    now: datetime,
    worth: float = 1.0,
) -> tuple[Tally, PairTally, float]:
    """Count one rating at ``now``: the account's new tally, the counterparty's new pair tally
    and the weight the rating carried.

    A rating weighs ``worth`` (1.0 at most: see :func:`rating_weight`), or whatever room the
    counterparty has left under :data:`PAIR_CAP` (never negative): a counterparty that has
    rated often lately counts for little more.
    """
    current = tally.at(now) if tally is not None else Tally(0.0, 0.0, now)
    held = pair.at(now) if pair is not None else PairTally(0.0, now)
    room = PAIR_CAP - held.weight
    weight = max(0.0, min(max(0.0, min(1.0, worth)), room))
    # Landing exactly on the cap keeps rounding from ever taking the pair above it.
    pair_weight = PAIR_CAP if weight == room else held.weight + weight
    if satisfied:
        new = Tally(current.positive + weight, current.negative, current.as_of)
    else:
        new = Tally(current.positive, current.negative + weight, current.as_of)
    return new, PairTally(pair_weight, held.as_of), weight


def remove_rating(
    tally: Tally,
    pair: PairTally | None,
    weight: float,
    satisfied: bool,
    since: datetime,
    now: datetime,
) -> tuple[Tally, PairTally | None]:
    """Take a rating given at ``since`` with ``weight`` back out (the operator hid it): what
    is left of its weight at ``now`` leaves the tally and the counterparty's pair tally."""
    left = weight * decay_factor(since, now)
    current = tally.at(now)
    if satisfied:
        new = Tally(max(0.0, current.positive - left), current.negative, current.as_of)
    else:
        new = Tally(current.positive, max(0.0, current.negative - left), current.as_of)
    if pair is None:
        return new, None
    held = pair.at(now)
    return new, PairTally(max(0.0, held.weight - left), held.as_of)


# What stands behind a rating (O3): the price paid on the contract rated, and the rater's own
# standing. A contract with nothing paid gives its ratings no weight at all.
FULL_WEIGHT_PRICE = Decimal(10)  # paid on the contract, in its currency's major units
FULL_STANDING_DAYS = 30  # the rater account's age at which its age stops holding it back
FULL_STANDING_PAYMENTS = 5  # succeeded charges in the rater's history for a full record


def rating_weight(paid: Decimal, rater_age_days: float, rater_payments: int) -> float:
    """The weight a rating carries, from 0 to 1: ``paid`` (what the contract's charges took,
    less refunds) relative to :data:`FULL_WEIGHT_PRICE`, times the rater's standing. The
    standing is half for having paid (or been paid) at all, a quarter for its account's age
    (full at :data:`FULL_STANDING_DAYS`) and a quarter for its payment history (succeeded
    charges it paid or was paid, full at :data:`FULL_STANDING_PAYMENTS`). Nothing paid on the
    contract, or a rater with no succeeded payment at all, weighs 0."""
    if paid <= 0 or rater_payments <= 0:
        return 0.0
    price = min(1.0, float(paid / FULL_WEIGHT_PRICE))
    age = min(1.0, max(0.0, rater_age_days) / FULL_STANDING_DAYS)
    history = min(1.0, rater_payments / FULL_STANDING_PAYMENTS)
    return price * (0.5 + 0.25 * age + 0.25 * history)


def reputation_of(tally: Tally | None, recent_count: int, now: datetime) -> Reputation:
    """The reputation shown at ``now``: the tally decayed to ``now`` and the number of ratings
    in the last :data:`WINDOW_DAYS` days (``recent_count``, counted by the caller)."""
    if tally is None:
        return Reputation(0.0, 0.0, recent_count, WINDOW_DAYS)
    current = tally.at(now)
    return Reputation(current.positive, current.negative, recent_count, WINDOW_DAYS)
