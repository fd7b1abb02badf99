"""The moment the services' unit tests start at, when their auctions close, and two
reputations they bid with."""

from datetime import UTC, datetime, timedelta

from commex.domain.reputation import Reputation

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CLOSES = T0 + timedelta(hours=1)
GOOD = Reputation(positive=40, negative=0, count=40)
POOR = Reputation(positive=1, negative=9, count=10)
