"""Service terms (T1): what is being bought or sold.

A block of time of usage (seconds), optionally to be used inside a window, with data-rate bounds
in bit/s, the most members that may share it, and for stream processing the steps required.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from commex.domain.errors import InvalidInput
from commex.domain.time import parse_utc

_SERVICE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_STEP = re.compile(r"^[a-z][a-z0-9-]{0,31}(:[A-Za-z0-9.+-]{1,32})?$")
KNOWN_SERVICES = ("voice", "data", "sms", "video", "stream-processing")
MAX_DURATION_S = 10 * 365 * 86400
MAX_RATE_BPS = 10**12
MAX_MEMBERS = 10_000
MAX_STEPS = 16


@dataclass(frozen=True, slots=True)
class ServiceTerms:
    """The terms of a block of service (T1). Construct through :func:`parse_terms` from input."""

    service: str
    duration_s: int
    window_start: datetime | None = None
    window_end: datetime | None = None
    min_rate_bps: int | None = None
    max_rate_bps: int | None = None
    max_members: int = 1
    steps: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _SERVICE.match(self.service):
            raise InvalidInput(
                "terms.service must be a lower-case kind such as "
                f"{', '.join(KNOWN_SERVICES)}; got {self.service!r}",
                field="terms.service",
            )
        _int_in("terms.duration_s", self.duration_s, 1, MAX_DURATION_S)
        for name in ("min_rate_bps", "max_rate_bps"):
            value = getattr(self, name)
            if value is not None:
                _int_in(f"terms.{name}", value, 1, MAX_RATE_BPS)
        if (
            self.min_rate_bps is not None
            and self.max_rate_bps is not None
            and self.min_rate_bps > self.max_rate_bps
        ):
            raise InvalidInput(
                f"terms.min_rate_bps ({self.min_rate_bps}) exceeds terms.max_rate_bps "
                f"({self.max_rate_bps})",
                field="terms.min_rate_bps",
            )
        _int_in("terms.max_members", self.max_members, 1, MAX_MEMBERS)
        if (self.window_start is None) != (self.window_end is None):
            raise InvalidInput(
                "terms.window_start and terms.window_end go together", field="terms.window_end"
            )
        if (
            self.window_start is not None
            and self.window_end is not None
            and self.window_end <= self.window_start
        ):
            raise InvalidInput(
                "terms.window_end must be after terms.window_start", field="terms.window_end"
            )
        if len(self.steps) > MAX_STEPS:
            raise InvalidInput(f"terms.steps holds at most {MAX_STEPS} steps", field="terms.steps")
        for step in self.steps:
            if not isinstance(step, str) or not _STEP.match(step):
                raise InvalidInput(
                    f"terms.steps: {step!r} is not a step such as 'transcode:pcmu'",
                    field="terms.steps",
                )
        if self.steps and self.service != "stream-processing":
            raise InvalidInput(
                "terms.steps apply only to the 'stream-processing' service", field="terms.steps"
            )

    def to_dict(self) -> dict[str, Any]:
        """The wire form (ISO 8601 UTC times)."""
        out: dict[str, Any] = {
            "service": self.service,
            "duration_s": self.duration_s,
            "max_members": self.max_members,
        }
        if self.window_start is not None and self.window_end is not None:
            out["window_start"] = self.window_start.isoformat()
            out["window_end"] = self.window_end.isoformat()
        if self.min_rate_bps is not None:
            out["min_rate_bps"] = self.min_rate_bps
        if self.max_rate_bps is not None:
            out["max_rate_bps"] = self.max_rate_bps
        if self.steps:
            out["steps"] = list(self.steps)
        return out


_KEYS = {
    "service",
    "duration_s",
    "window_start",
    "window_end",
    "min_rate_bps",
    "max_rate_bps",
    "max_members",
    "steps",
}


def parse_terms(data: Mapping[str, Any]) -> ServiceTerms:
    """Build terms from wire data, naming the field of every problem."""
    if not isinstance(data, Mapping):
        raise InvalidInput("terms must be an object", field="terms")
    unknown = set(data) - _KEYS
    if unknown:
        raise InvalidInput(f"terms has unknown fields: {', '.join(sorted(unknown))}", field="terms")
    if "service" not in data or "duration_s" not in data:
        raise InvalidInput("terms needs 'service' and 'duration_s'", field="terms")
    steps = data.get("steps") or ()
    if not isinstance(steps, list | tuple):
        raise InvalidInput("terms.steps must be a list of step names", field="terms.steps")
    ws, we = data.get("window_start"), data.get("window_end")
    return ServiceTerms(
        service=_str("terms.service", data["service"]),
        duration_s=data["duration_s"],
        window_start=None if ws is None else parse_utc(ws, "terms.window_start"),
        window_end=None if we is None else parse_utc(we, "terms.window_end"),
        min_rate_bps=data.get("min_rate_bps"),
        max_rate_bps=data.get("max_rate_bps"),
        max_members=1 if data.get("max_members") is None else data["max_members"],
        steps=tuple(steps),
    )


def stored_terms(data: Mapping[str, Any]) -> ServiceTerms:
    """Terms as stored (:meth:`ServiceTerms.to_dict`, checked when they were written), without
    checking them again: lists of auctions build a hundred of them per page."""
    terms = object.__new__(ServiceTerms)
    ws, we = data.get("window_start"), data.get("window_end")
    values = (
        ("service", data["service"]),
        ("duration_s", data["duration_s"]),
        ("window_start", None if ws is None else datetime.fromisoformat(ws)),
        ("window_end", None if we is None else datetime.fromisoformat(we)),
        ("min_rate_bps", data.get("min_rate_bps")),
        ("max_rate_bps", data.get("max_rate_bps")),
        ("max_members", data.get("max_members") or 1),
        ("steps", tuple(data.get("steps") or ())),
    )
    for name, value in values:
        object.__setattr__(terms, name, value)
    return terms


def _str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", field=name)
    return value


def _int_in(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be a whole number", field=name)
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be between {low} and {high}, not {value}", field=name)
