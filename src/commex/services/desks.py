"""Desks: flows that take one kind of command from many callers at once and apply those that
arrive together in one unit of work, with one commit (one fsync on SQLite), through a
:class:`~commex.services.group_commit.GroupCommit`.

Each command still gets its own answer or its own error. If a batch fails as a whole (a
conflict at commit, a driver error), each of its commands is tried again on its own, so one
cannot sink the rest. :class:`UsageDesk` takes usage reports; the bid desk
(:class:`~commex.services.bidding.BidDesk`) is the other.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

from commex.domain.errors import CommexError
from commex.services.bus import MessageBus
from commex.services.commands import ReportUsage
from commex.services.group_commit import GroupCommit, Pending
from commex.services.results import UsageReport
from commex.services.usage import report_many

Req = TypeVar("Req")
Res = TypeVar("Res")


class Desk(ABC, Generic[Req, Res]):
    """Takes commands from any number of threads (or an event loop, by :meth:`submit`) and
    answers each once the batch it joined is committed."""

    def __init__(self, bus: MessageBus, max_batch: int = 256) -> None:
        self._bus = bus
        turn = bus.uow_factory.write_turn
        self._group: GroupCommit[Req, Res] = GroupCommit(self._apply, max_batch, turn)
        # Batches run one at a time: one connection serves those that follow one another.
        self.held = bus.uow_factory.on_one_connection()

    @property
    def waiting(self) -> int:
        """Commands queued for the next batch."""
        return self._group.waiting

    def handle(self, cmd: Req, bus: MessageBus | None = None) -> Res:
        """The message bus's flow: queue the command, answer it once committed."""
        return self._group.submit(cmd)

    def submit(self, cmd: Req) -> Future[Res]:
        """Queue the command without waiting: the future is answered once its batch is
        committed (for an event loop, which must not block)."""
        return self._group.submit_future(cmd)

    def submit_on_loop(self, cmd: Req) -> asyncio.Future[Res]:
        """From a running event loop: queue the command; the loop's future is answered once
        its batch is committed, every answer of a batch with one wake-up of the loop."""
        return self._group.submit_on_loop(cmd)

    def close(self) -> None:
        self._group.close()
        self.held.release()

    @abstractmethod
    def apply_together(self, batch: Sequence[Pending[Req, Res]]) -> None:
        """Apply the batch in one unit of work and give every command its answer or error."""

    def _apply(self, batch: Sequence[Pending[Req, Res]]) -> None:
        try:
            self._apply_or_one_by_one(batch)
        finally:
            if not self._group.waiting:  # no batch follows at once: the connection goes back
                self.held.release()

    def _apply_or_one_by_one(self, batch: Sequence[Pending[Req, Res]]) -> None:
        try:
            self.apply_together(batch)
        except Exception:
            if len(batch) == 1:
                raise
            for p in batch:
                p.result, p.error = None, None
                try:
                    self.apply_together([p])
                except Exception as exc:
                    p.fail(exc)


class UsageDesk(Desk[ReportUsage, UsageReport]):
    """Usage reports in group commits. Reports that arrive together share a transaction; each
    is metered in its turn, with its contract's row locked and the block as the reports before
    it left it, so together they never pass the block. A report refused by the rules gets its
    own error and leaves the others be (the rules refuse before anything is written)."""

    def apply_together(self, batch: Sequence[Pending[ReportUsage, UsageReport]]) -> None:
        # report_many locks the batch's contracts in one statement, in id order, so batches in
        # different processes cannot deadlock on PostgreSQL; reports keep their arrival order.
        with self._bus.unit_of_work(held=self.held) as uow:
            answers = report_many([p.request for p in batch], uow, self._bus.deps)
            uow.commit()
        for p, answer in zip(batch, answers, strict=True):
            if isinstance(answer, CommexError):
                p.fail(answer)
            else:
                p.answer(answer)
