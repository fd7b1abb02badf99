"""Words and numbers for people, shared by the web pages and the command line: time left,
seconds, what an auction is, when something happened, a block's length and a data rate.

These format what the services computed; they never decide a rule. They take plain values
(a direction may be the enum or its word), so the command line can use them on what the API
answered as well as the pages on the services' results.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from commex.domain.reputation import Reputation
from commex.domain.service_level import ServiceLevel

_DIRECTION = {"forward": "Selling", "reverse": "Buying"}
_FORMAT = {
    "first-price": "sealed, first price",
    "second-price": "sealed, second price",
    "english": "english (open, ascending)",
}


def time_left(until: datetime, now: datetime) -> str:
    """``2 h 5 min`` until ``until``, or ``closing`` once it has passed."""
    left = int((until - now).total_seconds())
    if left <= 0:
        return "closing"
    days, rest = divmod(left, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def seconds(ms: int) -> int | float:
    """Milliseconds as seconds, whole seconds as integers (on the wire and for people)."""
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def seconds_text(ms: int) -> str:
    """Milliseconds as seconds for people: ``12``, ``12.5``."""
    return str(seconds(ms))


def kind(direction: str, fmt: str) -> str:
    """``Selling · english (open, ascending)``: what an auction is, in words."""
    words = _FORMAT[str(fmt)]
    if str(fmt) == "english" and str(direction) == "reverse":
        words = "english (open, descending)"
    return f"{_DIRECTION[str(direction)]} · {words}"


def when(moment: datetime | None, seconds: bool = False) -> str:
    """A time for people, in UTC to the minute (or, given ``seconds``, to the second)."""
    if moment is None:
        return ""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def duration(total: int) -> str:
    """A block of usage in the largest whole units: ``1,000 min`` or ``30 days``."""
    if total % 86400 == 0:
        days = total // 86400
        return f"{days:,} day" + ("" if days == 1 else "s")
    if total % 3600 == 0:
        return f"{total // 3600:,} h"
    if total % 60 == 0:
        return f"{total // 60:,} min"
    return f"{total:,} s"


def rate(bps: int | None) -> str:
    """A data rate in the largest unit that shows it exactly: ``20 Mbit/s``."""
    if bps is None:
        return ""
    for unit, size in (("Gbit/s", 10**9), ("Mbit/s", 10**6), ("kbit/s", 10**3)):
        if bps >= size and bps % (size // 1000 or 1) == 0:
            return f"{bps / size:g} {unit}"
    return f"{bps} bit/s"


def reputation_words(rep: Mapping[str, Any]) -> str:
    """A reputation as the API answers it (the Rep of SPEC section 8), in words: ``96%
    positive, 212 ratings in the last 12 months``; a provider's measured deliveries follow."""
    sla = rep.get("sla")
    service = None
    if sla is not None:
        service = ServiceLevel(
            sla["measured"],
            sla["breaches"],
            round(sla["measured_seconds"] * 1000),
            round(sla["breached_seconds"] * 1000),
        )
    return Reputation(
        rep["positive"], rep["negative"], rep["count"], rep["window_days"], service
    ).describe()


_ENDINGS = {
    "used_up": "its block was used up",
    "window_ended": "its window ended",
    "non_payment": "its charge failed for the last time (non-payment)",
    "operator": "by the operator",
}


def ending(status: str, reason: str | None, at: datetime | None, note: str | None) -> str:
    """How a contract ended, for people: ``completed 2026-03-01 14:00 UTC: its window ended``;
    ``cancelled ... by the operator: fraud report``; "" for one still in force."""
    if at is None or reason is None:
        return ""
    said = f": {note}" if note else ""
    return f"{status} {when(at)}: {_ENDINGS.get(reason, reason)}{said}"


def standing(since: datetime | None, payments: int | None) -> str:
    """What stands behind a name (against look-alike accounts): ``account since 2026-03-01 ·
    2 verified payments`` (the payments left out where they were not looked up)."""
    parts = [] if since is None else [f"account since {since.strftime('%Y-%m-%d')}"]
    if payments is not None:
        parts.append(
            "no verified payment yet"
            if payments == 0
            else f"{payments} verified payment{'' if payments == 1 else 's'}"
        )
    return " · ".join(parts)


# -- notices: what a notification says, and where it leads ------------------------------------


def _moment(text: object) -> str:
    """An ISO time from a notice's data, for people (UTC to the minute)."""
    if not isinstance(text, str) or not text:
        return ""
    try:
        return when(datetime.fromisoformat(text))
    except ValueError:
        return text


def _money(data: Mapping[str, Any], key: str) -> str:
    return f"{data.get(key, '')} {data.get('currency', '')}".strip()


def notice_words(kind: str, data: Mapping[str, Any]) -> tuple[str, str]:
    """A notice's title and what it means (and what to do), in words."""
    title = data.get("title", "")
    words: dict[str, tuple[str, str]] = {
        "bid.outbid": (
            f"You were outbid on “{title}”",
            f"The price is now {_money(data, 'price')}; bid again before it closes at "
            f"{_moment(data.get('closes_at'))}.",
        ),
        "auction.closing_soon": (
            f"“{title}” closes soon",
            f"It closes at {_moment(data.get('closes_at'))}.",
        ),
        "auction.won": (f"You won “{title}”", f"At {_money(data, 'price')}: see your contract."),
        "auction.lost": (
            f"“{title}” closed without your bid winning",
            f"{data.get('winners', 0)} winning bid(s); the outcome is on the auction's page.",
        ),
        "contract.started": ("A contract started", "Its service is being delivered from now."),
        "contract.completed": (
            "A contract is complete",
            f"Its service is over: {_ENDINGS.get(str(data.get('reason')), 'it ended')}.",
        ),
        "contract.cancelled": ("A contract was cancelled", _cancelled(data)),
        "charge.succeeded": (f"Charged {_money(data, 'amount')}", "The payment went through."),
        "charge.declined": _declined(data),
        "group.invited": (
            f"You are invited to the group {data.get('group_name', '')}",
            "Join as a payer with a pledge, as a non-payer, or decline.",
        ),
        "rating.received": _rated(data),
        "delivery.breach": (
            "A delivery fell below the minimum rate",
            f"{rate(_int(data.get('achieved_rate_bps')))} against a minimum of "
            f"{rate(_int(data.get('min_rate_bps')))}"
            + (", as its receivers reported." if data.get("measured_by") == "receiver" else "."),
        ),
        "subcontract.opened": (
            "A subcontract was opened",
            f"The step {data.get('step') or '?'} of a contract went to another provider.",
        ),
    }
    return words.get(kind, (kind, ""))


def _cancelled(data: Mapping[str, Any]) -> str:
    reason = str(data.get("reason") or "")
    note = f": {data['note']}" if data.get("note") else ""
    return f"Cancelled {_ENDINGS.get(reason, reason)}{note}."


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _declined(data: Mapping[str, Any]) -> tuple[str, str]:
    why = str(data.get("message") or data.get("decline_code") or "declined")
    if data.get("final"):
        return (
            f"Your payment of {_money(data, 'amount')} failed",
            f"{why} No further try is made.",
        )
    return (
        f"Your payment of {_money(data, 'amount')} was declined",
        f"{why} Save another card or make another one the default and it is tried at once, or "
        f"press Pay now on the contract. Next try: {_moment(data.get('next_attempt_at'))}.",
    )


def _rated(data: Mapping[str, Any]) -> tuple[str, str]:
    verdict = "satisfied" if data.get("satisfied") else "not satisfied"
    score = f", {data['score']}/5" if _int(data.get("score")) else ""
    return (f"You were rated: {verdict}{score}", f"As {data.get('role', '')}, for a contract.")


_LINKS = {"auction": "/auctions/", "contract": "/contracts/", "group": "/groups/"}


def notice_link(kind: str, subject_id: str) -> str:
    """The page a notice leads to: its auction, contract or group."""
    area = kind.split(".", 1)[0]
    area = {"bid": "auction", "charge": "contract", "rating": "contract", "delivery": "contract",
            "subcontract": "contract"}.get(area, area)  # fmt: skip
    return _LINKS.get(area, "/") + subject_id if area in _LINKS else "/notifications"
