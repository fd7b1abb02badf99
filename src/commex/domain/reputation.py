"""Reputation as the rules see it: a per-account, per-role summary of ratings (R4).

The full rating rules (decay, counterparty cap) arrive with the ratings module; auctions only
need this summary, read through a port, so every account starts with "no ratings yet".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

_Z = 1.96  # 95% two-sided normal quantile for the Wilson lower bound


@dataclass(frozen=True, slots=True)
class Reputation:
    """Positive and negative (decayed) rating weight, the raw count and the window shown."""

    positive: float = 0.0
    negative: float = 0.0
    count: int = 0
    window_days: int = 365

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
        """For people: ``96% positive, 212 ratings, last 12 months`` or ``no ratings yet``."""
        if self.count == 0:
            return "no ratings yet"
        total = self.positive + self.negative
        share = round(100 * self.positive / total) if total > 0 else 0
        months = round(self.window_days / 30.4)
        noun = "rating" if self.count == 1 else "ratings"
        return f"{share}% positive, {self.count} {noun}, last {months} months"

    def to_dict(self) -> dict[str, float | int]:
        """The wire form of SPEC section 8 (Rep)."""
        return {
            "score": round(self.score, 4),
            "lower_bound": round(self.lower_bound, 4),
            "positive": round(self.positive, 4),
            "negative": round(self.negative, 4),
            "count": self.count,
            "window_days": self.window_days,
        }


NO_RATINGS = Reputation()
