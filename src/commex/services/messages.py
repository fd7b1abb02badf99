"""What every message shares: the base of commands and queries (a message names the type of
its answer), and the parts commands are built from: who acts on a contract, service terms, and
who may bid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Generic, TypeVar

from commex.domain.members import Device

R_co = TypeVar("R_co", covariant=True)


class Message(Generic[R_co]):
    """A request to the engine whose answer is an ``R_co``."""

    __slots__ = ()
    writes: ClassVar[bool] = True


class Command(Message[R_co]):
    """A request to change something: handled in a unit of work that is committed."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Caller:
    """Who acts on a contract: an account, or a client device with its own token."""

    account_id: str | None = None
    device: Device | None = None


@dataclass(frozen=True, slots=True)
class Terms:
    """Service terms as asked for (T1): see :class:`commex.domain.terms.ServiceTerms`."""

    service: str
    duration_s: int
    window_start: datetime | str | None = None
    window_end: datetime | str | None = None
    min_rate_bps: int | None = None
    max_rate_bps: int | None = None
    max_members: int | None = None
    steps: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Who may bid (A6): a least reputation (0 to 1) and, for a reverse auction, a list of
    pre-approved providers."""

    min_provider_score: float | None = None
    min_recipient_score: float | None = None
    approved_providers: tuple[str, ...] = ()
