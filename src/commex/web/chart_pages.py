"""The four charts of the pages, from what the services answer: an english auction's price
over time, a reputation's months, a block's use by each member, and a provider's delivered
rate against the contract's bounds."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from decimal import Decimal

from markupsafe import Markup

from commex.domain.accounts import Role
from commex.domain.auctions import Format
from commex.domain.series import MonthRatings, price_steps, usage_by_member
from commex.presentation import rate, when
from commex.services.bus import MessageBus
from commex.services.charts import ContractSeries, ReputationHistory, ShowContractSeries
from commex.services.messages import Caller
from commex.services.results import AccountView, AuctionView
from commex.web.charts import Bar, Chart, Line, figure

_ROLE_WORDS = {Role.PROVIDER: "as a provider", Role.RECIPIENT: "as a payer"}


def price_chart(view: AuctionView) -> Markup | None:
    """An english auction's standing price after each public bid (None before any)."""
    a = view.auction
    bids = [b.bid for b in view.bids]
    if a.format is not Format.ENGLISH or not bids:
        return None
    steps = price_steps(bids)
    names = {b.bid.id: b.bidder.name for b in view.bids}
    ordered = sorted(bids, key=lambda b: b.seq)
    low, high = min(p.value for p in steps), max(p.value for p in steps)
    chart = Chart(
        title=f"Price over time, {a.currency}",
        description=(
            f"The standing price of “{a.title}” after each of {len(steps)} bids, from "
            f"{low} to {high} {a.currency}."
        ),
        y_label=a.currency,
        y_text=lambda v: f"{v:.2f}",
        lines=[Line("Standing price", [(p.at, p.value) for p in steps], step=True)],
        table_head=("When", "Price", "Bidder"),
        table_rows=[
            (when(b.created_at, seconds=True), f"{b.amount} {a.currency}", names.get(b.id, ""))
            for b in ordered
        ],
    )
    return figure(chart)


def reputation_chart(months: Sequence[MonthRatings], role: Role, name: str) -> Markup:
    """Ratings per month, stacked positive on negative, with each month's positive share."""
    bars = [
        Bar(
            m.start.strftime("%b"),
            (("positive", Decimal(m.positive)), ("negative", Decimal(m.negative))),
        )
        for m in months
    ]
    rated = [m for m in months if m.count]
    total = sum(m.count for m in months)
    good = sum(m.positive for m in months)
    summary = f"{good} of {total} positive" if total else "no ratings"
    chart = Chart(
        title=f"Reputation {_ROLE_WORDS[role]}, month by month",
        description=(
            f"Ratings {name} received {_ROLE_WORDS[role]} in each of the last {len(months)} "
            f"months ({summary}; {len(rated)} months with ratings)."
        ),
        y_label="ratings",
        y_text=lambda v: f"{v:.0f}",
        bars=bars,
        table_head=("Month", "Positive", "Negative", "Ratings", "Positive share"),
        table_rows=[
            (
                m.start.strftime("%Y-%m"),
                str(m.positive),
                str(m.negative),
                str(m.count),
                "" if m.positive_share is None else f"{m.positive_share:.0%}",
            )
            for m in months
        ],
    )
    return figure(chart)


def usage_chart(series: ContractSeries, names: Mapping[str, str]) -> Markup | None:
    """Each member's use of the block so far, over time, against the block's size."""
    per_member = usage_by_member(series.sessions)
    if not per_member:
        return None
    block = Decimal(series.contract.terms.duration_s)
    order = sorted(per_member, key=lambda k: names.get(k, k))
    lines = [
        Line(names.get(k, k), [(p.at, p.value) for p in per_member[k]], step=True) for k in order
    ]
    rows = [
        (when(p.at, seconds=True), names.get(k, k), f"{p.value:g} s")
        for k in order
        for p in per_member[k]
    ]
    chart = Chart(
        title="Use of the block by member",
        description=(
            f"Seconds of the {block:g} s block each of {len(lines)} member(s) had used, after "
            "each usage session."
        ),
        y_label="seconds",
        y_text=lambda v: f"{v:,.0f}",
        lines=lines,
        marks=[("block", block)],
        table_head=("When", "Member", "Used so far"),
        table_rows=sorted(rows),
    )
    return figure(chart)


def rate_chart(series: ContractSeries) -> Markup | None:
    """Each delivery's achieved rate against the contract's minimum and maximum rates."""
    deliveries = series.deliveries
    if not deliveries:
        return None
    terms = series.contract.terms
    marks = [(n, Decimal(v)) for n, v in (("minimum", terms.min_rate_bps),
                                          ("maximum", terms.max_rate_bps)) if v]  # fmt: skip
    below = sum(1 for d in deliveries if d.breach)
    chart = Chart(
        title="Delivered rate against the contract's bounds",
        description=(
            f"The rate achieved by each of {len(deliveries)} deliveries; {below} below the "
            "minimum rate."
        ),
        y_label="bit/s",
        y_text=lambda v: rate(int(v)) if v >= 1000 else f"{v:.0f} bit/s",
        lines=[
            Line("achieved", [(d.created_at, Decimal(d.achieved_rate_bps)) for d in deliveries])
        ],
        marks=marks,
        table_head=("When", "Run", "Achieved", "Below the minimum"),
        table_rows=[
            (
                when(d.created_at, seconds=True),
                d.run_id,
                rate(d.achieved_rate_bps),
                "yes" if d.breach else "no",
            )
            for d in deliveries
        ],
    )
    return figure(chart)


def reputation_charts(bus: MessageBus, view: AccountView) -> list[Markup]:
    """An account's reputation month by month, in each role it has."""
    account = view.account
    return [
        reputation_chart(bus.handle(ReputationHistory(account.id, role)), role, account.name)
        for role in (Role.PROVIDER, Role.RECIPIENT)
        if account.has(role)
    ]


def contract_charts(
    bus: MessageBus, contract_id: str, viewer_id: str, names: Mapping[str, str]
) -> dict[str, object]:
    """What the contract page draws (and the key its "pay now" button sends)."""
    series = bus.handle(ShowContractSeries(contract_id, Caller(viewer_id)))
    return {
        "usage_chart": usage_chart(series, names),
        "rate_chart": rate_chart(series),
        "pay_key": secrets.token_urlsafe(16),
        "pay_problem": "",
    }
