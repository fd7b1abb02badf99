"""The message bus: every command and query goes to its one handler, and the events of what
changed go to their subscribers once committed.

Most handlers take a unit of work that their caller owns: the bus opens one for the message
(read-only for a query), calls the handler, commits a command, and then publishes the events
the handler recorded. A caller that needs several messages in one transaction opens the unit of
work itself (:meth:`MessageBus.unit_of_work`) and calls :meth:`MessageBus.handle_in`.

Some subscribers must write in the change's own transaction (a notification, a webhook's outbox
row: none may be lost, and none may exist for a change that rolled back). Those subscribe *in
transaction*: every unit of work the bus opens for writing hands them its recorded events just
before it commits, together with the unit of work to write in.

A few use cases span several transactions by nature (a payment gateway or a slow password hash
must not run inside one; the bid desk shares one commit among concurrent bids; closing due
auctions closes each on its own): those are *flows*, which get the bus and open the units of
work they need.

Observers (:meth:`MessageBus.observe`) are told of every message handled and how it ended,
refusals included, which is what the operator's figures count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from commex.domain.events import Event
from commex.domain.urls import UrlPolicy
from commex.services.commands import Message
from commex.services.ports import (
    Clock,
    EventSubscriber,
    HeldUnitsOfWork,
    IdGenerator,
    Observer,
    PasswordHasher,
    PaymentGateway,
    ReputationSource,
    UnitOfWork,
    UnitOfWorkFactory,
)

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Deps:
    """What handlers use besides the unit of work: time, ids, reputations, password hashing,
    the payment gateway, and the rule for URLs commex will call on someone's behalf."""

    clock: Clock
    ids: IdGenerator
    reputations: ReputationSource
    hasher: PasswordHasher
    gateway: PaymentGateway
    urls: UrlPolicy


Handler = Callable[[Any, UnitOfWork, Deps], Any]
Flow = Callable[[Any, "MessageBus"], Any]
TransactionSubscriber = Callable[[Sequence[Event], UnitOfWork, Deps], None]
"""Acts on events inside the transaction that recorded them (before it commits)."""
Submitter = Callable[[Any], "Future[Any]"]
LoopSubmitter = Callable[[Any], "asyncio.Future[Any]"]
Recorder = Callable[[UnitOfWork, Deps, Sequence[Event]], None]


class MessageBus:
    """Commands and queries to handlers; committed events to subscribers."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        deps: Deps,
        handlers: Mapping[type[Message[Any]], Handler],
        flows: Mapping[type[Message[Any]], Flow] | None = None,
        subscribers: Mapping[type[Event], Sequence[EventSubscriber]] | None = None,
        in_transaction: Mapping[type[Event], Sequence[TransactionSubscriber]] | None = None,
    ) -> None:
        self._uow = uow
        self.deps = deps
        self._handlers = dict(handlers)
        self._flows = dict(flows or {})
        self._subscribers = {k: list(v) for k, v in (subscribers or {}).items()}
        self._in_tx = {k: list(v) for k, v in (in_transaction or {}).items()}
        self._observers: list[Observer] = []
        self._submitters: dict[type[Message[Any]], Submitter] = {}
        self._loop_submitters: dict[type[Message[Any]], LoopSubmitter] = {}
        self._closers: list[Callable[[], None]] = []
        self._recorders: list[Recorder] = []

    @property
    def clock(self) -> Clock:
        return self.deps.clock

    @property
    def uow_factory(self) -> UnitOfWorkFactory:
        """Where the bus opens its units of work (the store behind it)."""
        return self._uow

    def handle(self, message: Message[R]) -> R:
        """Handle ``message`` in a unit of work of its own and answer its result (or raise the
        error that refused it)."""
        if not self._observers:
            return self._handle(message)
        try:
            result = self._handle(message)
        except Exception as exc:
            for observer in self._observers:
                observer.handled(message, None, exc)
            raise
        for observer in self._observers:
            observer.handled(message, result, None)
        return result

    def _handle(self, message: Message[R]) -> R:
        flow = self._flows.get(type(message))
        if flow is not None:
            result: R = flow(message, self)
            return result
        handler = self._handler(message)
        with self.unit_of_work(write=message.writes) as uow:
            result = handler(message, uow, self.deps)
            if message.writes:
                uow.commit()
        return result

    def submit(self, message: Message[R]) -> Future[R]:
        """Hand ``message`` over without waiting for it (from an event loop): the future gets
        its result or its error. Only messages whose flow queues its work (the bid desk) can
        be submitted; anything else is a TypeError."""
        submitter = self._submitters.get(type(message))
        if submitter is None:
            raise TypeError(f"{type(message).__name__} cannot be submitted; handle it instead")
        future: Future[R] = submitter(message)
        if self._observers:
            future.add_done_callback(lambda done: self._observed(message, done))
        return future

    def submit_on_loop(self, message: Message[R]) -> asyncio.Future[R]:
        """From a running event loop: hand ``message`` over and return a future of that loop
        for its result or its error (the bid desk wakes the loop once per batch). Only
        messages whose flow queues its work can be submitted; anything else is a TypeError."""
        submitter = self._loop_submitters.get(type(message))
        if submitter is None:
            raise TypeError(f"{type(message).__name__} cannot be submitted; handle it instead")
        future: asyncio.Future[R] = submitter(message)
        if self._observers:
            future.add_done_callback(lambda done: self._observed(message, done))
        return future

    def _observed(self, message: Message[Any], done: Future[Any] | asyncio.Future[Any]) -> None:
        if done.cancelled():
            return
        error = done.exception()
        result = done.result() if error is None else None
        for observer in self._observers:
            observer.handled(message, result, error)

    def handle_in(self, uow: UnitOfWork, message: Message[R]) -> R:
        """Handle ``message`` in the caller's unit of work; the caller commits it."""
        result: R = self._handler(message)(message, uow, self.deps)
        return result

    @contextmanager
    def unit_of_work(
        self, *, write: bool = True, held: HeldUnitsOfWork | None = None
    ) -> Iterator[UnitOfWork]:
        """A unit of work the caller commits (a write one of ``held`` when given); its events
        go to the in-transaction subscribers just before the commit, and are published after
        it."""
        with self._uow(write=write) if held is None else held() as uow:
            for recorder in self._recorders:
                uow.watch(partial(recorder, uow, self.deps))
            if write and self._in_tx:
                uow.before_commit(lambda events: self._write_through(uow, events))
            yield uow
        self.publish(uow.collect_events())

    def on_record(self, recorder: Recorder) -> None:
        """Call ``recorder`` with each batch of events recorded in a unit of work this bus
        opens, in that unit of work before it commits (the moderation audit writes its
        entries so: with the change, or not at all)."""
        self._recorders.append(recorder)

    def _write_through(self, uow: UnitOfWork, events: Sequence[Event]) -> None:
        """The in-transaction subscribers' shares of ``events``, each in one call."""
        shares: dict[int, tuple[TransactionSubscriber, list[Event]]] = {}
        for event in events:
            for subscriber in self._in_tx.get(type(event), ()):
                shares.setdefault(id(subscriber), (subscriber, []))[1].append(event)
        for subscriber, share in shares.values():
            subscriber(share, uow, self.deps)

    def publish(self, events: Sequence[Event]) -> None:
        """Hand committed events to their subscribers, each its share in one call."""
        if not events:
            return
        shares: dict[int, tuple[EventSubscriber, list[Event]]] = {}
        for event in events:
            for subscriber in self._subscribers.get(type(event), ()):
                shares.setdefault(id(subscriber), (subscriber, []))[1].append(event)
        for subscriber, share in shares.values():
            subscriber(share)

    def subscribe(self, event: type[Event], subscriber: EventSubscriber) -> None:
        self._subscribers.setdefault(event, []).append(subscriber)

    def subscribe_in_transaction(
        self, event: type[Event], subscriber: TransactionSubscriber
    ) -> None:
        """Have ``subscriber`` act on ``event`` inside the transaction that recorded it."""
        self._in_tx.setdefault(event, []).append(subscriber)

    def observe(self, observer: Observer) -> None:
        """Tell ``observer`` of every message handled from now on, submitted ones included."""
        self._observers.append(observer)

    def add_flow(
        self,
        message: type[Message[Any]],
        flow: Flow,
        *,
        submit: Submitter | None = None,
        submit_on_loop: LoopSubmitter | None = None,
        close: Callable[[], None] | None = None,
    ) -> None:
        """Handle ``message`` by ``flow`` (for flows that hold state, such as the bid desk);
        ``submit`` queues it without waiting (see :meth:`submit`), and ``close`` is called on
        :meth:`dispose`."""
        self._flows[message] = flow
        if submit is not None:
            self._submitters[message] = submit
        if submit_on_loop is not None:
            self._loop_submitters[message] = submit_on_loop
        if close is not None:
            self._closers.append(close)

    def dispose(self) -> None:
        """Stop the flows' threads, then release pooled connections."""
        for close in self._closers:
            close()
        self._uow.dispose()

    def _handler(self, message: Message[Any]) -> Handler:
        handler = self._handlers.get(type(message))
        if handler is None:
            raise TypeError(f"no handler for {type(message).__name__} in this unit of work")
        return handler
