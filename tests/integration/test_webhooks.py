"""Webhooks against a real local HTTP receiver, on SQLite and PostgreSQL: the signature
verifies as the README says, a receiver answering 500 then 200 gets the event once more (same
event id), a change that rolled back sends nothing, a suspended account's deliveries wait
until it is reinstated, private addresses are refused by default
(also when a name resolves to one only later), and a slow endpoint holds up nobody else."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from commex.adapters.clock import ManualClock
from commex.adapters.passwords import Argon2Hasher
from commex.bootstrap import Services, build_services
from commex.domain.errors import InvalidInput
from commex.domain.webhooks import FIRST_RETRY, DeliveryStatus
from commex.services import commands as c
from commex.services import marketplace as m
from commex.services import trust_messages as tm
from commex.services.bidding import place_bids
from commex.settings import Settings
from support.engine import auction_request, open_auction, place_bid, register
from support.net import wait_until
from support.receiver import receiver

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HASHER = Argon2Hasher(time_cost=1, memory_kib=1024)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def _services(database_url: str, tmp_path: Path, clock: ManualClock, **kw: object) -> Services:
    allow = bool(kw.pop("allow_private", True))
    settings = Settings(tmp_path, database_url, allow_private_urls=allow)
    return build_services(settings, clock=clock, hasher=HASHER, **kw)  # type: ignore[arg-type]


@pytest.fixture
def services(database_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[Services]:
    found = _services(database_url, tmp_path, clock)
    try:
        yield found
    finally:
        found.shutdown()


def _outbid_world(services: Services, url: str) -> tuple[str, str, str]:
    """Ann leads an english auction and has a webhook for being outbid: (ann, bob, auction)."""
    bus = services.bus
    seller = register(bus, "Seller", ["provider"])
    ann, bob = (register(bus, n, ["recipient"]).id for n in ("Ann", "Bob"))
    hook = bus.handle(m.CreateWebhook(ann, url, ("bid.outbid",))).webhook
    assert hook.secret.startswith("whsec_")
    closes = (services.clock.now() + timedelta(hours=1)).isoformat()
    a = open_auction(
        bus, seller.id, auction_request(format="english", title="Fibre", closes_at=closes)
    )
    place_bid(bus, a.id, ann, "10.00")
    return ann, bob, a.id


def _secret(services: Services, account_id: str) -> tuple[str, str]:
    (hook,) = services.bus.handle(m.MyWebhooks(account_id))
    return hook.id, hook.secret


def test_a_signed_event_reaches_a_real_receiver_and_verifies(services: Services) -> None:
    with receiver() as box:
        ann, bob, auction_id = _outbid_world(services, box.url)
        place_bid(services.bus, auction_id, bob, "12.00")
        (done,) = services.webhooks.deliver_due()
        assert done.status is DeliveryStatus.DELIVERED
    (got,) = box.got
    hook_id, secret = _secret(services, ann)
    header = got.headers["Commex-Signature"]
    stamp, v1 = (part.split("=", 1)[1] for part in header.split(","))
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + got.body, hashlib.sha256)
    assert hmac.compare_digest(v1, expected.hexdigest())
    assert int(stamp) == int(T0.timestamp())
    event = json.loads(got.body)
    assert set(event) == {"id", "type", "created_at", "data"}
    assert (event["type"], event["data"]["price"], event["data"]["auction_id"]) == (
        "bid.outbid",
        "12.00",
        auction_id,
    )
    log = services.bus.handle(m.WebhookDeliveries(ann, hook_id)).items
    assert [(d.event_id, d.status, d.attempts, d.last_status) for d in log] == [
        (event["id"], DeliveryStatus.DELIVERED, 1, 200)
    ]


def test_a_receiver_answering_500_then_200_gets_the_event_once_more(
    services: Services, clock: ManualClock
) -> None:
    with receiver([500, 200]) as box:
        ann, bob, auction_id = _outbid_world(services, box.url)
        place_bid(services.bus, auction_id, bob, "12.00")
        (first,) = services.webhooks.deliver_due()
        assert (first.status, first.last_status) == (DeliveryStatus.PENDING, 500)
        assert first.next_attempt_at == T0 + FIRST_RETRY
        assert services.webhooks.deliver_due() == []  # not before its time
        clock.advance(FIRST_RETRY.total_seconds())
        (second,) = services.webhooks.deliver_due()
        assert services.webhooks.deliver_due() == []
    assert second.status is DeliveryStatus.DELIVERED and second.attempts == 2
    ids = [json.loads(r.body)["id"] for r in box.got]
    assert len(ids) == 2 and ids[0] == ids[1]  # the same event, for the receiver to deduplicate
    hook_id, _ = _secret(services, ann)
    log = services.bus.handle(m.ShowDelivery(ann, hook_id, second.id))
    assert [(a.number, a.status_code) for a in log.attempts] == [(1, 500), (2, 200)]


def test_a_change_that_rolled_back_sends_nothing(services: Services) -> None:
    with receiver() as box:
        ann, bob, auction_id = _outbid_world(services, box.url)
        with services.bus.unit_of_work() as uow:  # Bob outbids Ann, but it is never committed
            (placed,) = place_bids([c.PlaceBid(auction_id, bob, "12.00")], uow, services.bus.deps)
            assert not isinstance(placed, Exception)
        assert services.webhooks.deliver_due() == []
    assert box.got == []
    hook_id, _ = _secret(services, ann)
    assert services.bus.handle(m.WebhookDeliveries(ann, hook_id)).items == ()


def test_a_suspended_account_hears_nothing_until_it_is_reinstated(services: Services) -> None:
    bus = services.bus
    op = register(bus, "Operator", ["operator"], allow_operator=True).id
    with receiver() as box:
        ann, bob, auction_id = _outbid_world(services, box.url)
        place_bid(bus, auction_id, bob, "12.00")
        bus.handle(tm.SuspendAccount(ann, op, "chargebacks elsewhere"))
        assert services.webhooks.deliver_due() == []
        assert box.got == []
        bus.handle(tm.ReinstateAccount(ann, op, "cleared up"))
        (done,) = services.webhooks.deliver_due()
        assert done.status is DeliveryStatus.DELIVERED
    (got,) = box.got
    assert json.loads(got.body)["type"] == "bid.outbid"


def test_private_addresses_are_refused_by_default(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    table = {"hooks.example.net": ["93.184.216.34"], "inside.example.net": ["10.1.2.3"]}
    found = _services(
        database_url, tmp_path, clock, allow_private=False, resolve=lambda h: table.get(h, [])
    )
    try:
        bus = found.bus
        ann = register(bus, "Ann", ["recipient"]).id
        for url in ("http://127.0.0.1:9/hook", "https://inside.example.net/hook",
                    "http://169.254.169.254/latest", "ftp://hooks.example.net/"):  # fmt: skip
            with pytest.raises(InvalidInput) as refused:
                bus.handle(m.CreateWebhook(ann, url, ("bid.outbid",)))
            assert refused.value.field == "url"
        assert bus.handle(m.MyWebhooks(ann)) == []
        # Accepted while public; by delivery time the name points inside: nothing is sent.
        bus.handle(m.CreateWebhook(ann, "https://hooks.example.net/in", ("bid.outbid",)))
        bob = register(bus, "Bob", ["recipient"]).id
        seller = register(bus, "Seller", ["provider"])
        a = open_auction(bus, seller.id, auction_request(format="english"))
        place_bid(bus, a.id, ann, "10.00")
        place_bid(bus, a.id, bob, "12.00")
        table["hooks.example.net"] = ["127.0.0.1"]
        (tried,) = found.webhooks.deliver_due()
        assert tried.status is DeliveryStatus.PENDING and tried.last_status is None
        assert tried.last_error is not None and "loopback" in tried.last_error
    finally:
        found.shutdown()


def test_a_slow_endpoint_holds_up_no_other_delivery(services: Services) -> None:
    held = threading.Event()
    with receiver(hold=held) as slow, receiver() as quick:
        ann, bob, auction_id = _outbid_world(services, slow.url)
        services.bus.handle(m.CreateWebhook(bob, quick.url, ("bid.outbid",)))
        place_bid(services.bus, auction_id, bob, "12.00")  # Ann outbid: to the slow endpoint
        services.webhooks.start()
        try:
            wait_until(lambda: len(slow.got) == 1, "the slow endpoint to be called", 15)
            place_bid(services.bus, auction_id, ann, "14.00")  # Bob outbid: to the quick one
            wait_until(lambda: len(quick.got) == 1, "the quick endpoint's delivery", 15)
            assert not held.is_set()  # ...while the slow one still holds its request
            held.set()
            hook_id, _ = _secret(services, ann)
            wait_until(lambda: _delivered(services, ann, hook_id), "the slow delivery", 15)
        finally:
            services.webhooks.stop()


def _delivered(services: Services, account_id: str, hook_id: str) -> bool:
    log = services.bus.handle(m.WebhookDeliveries(account_id, hook_id)).items
    return bool(log) and log[0].status is DeliveryStatus.DELIVERED


def _readme_verify() -> Any:
    """The ``verify`` function of the README's snippet, run as a receiver would copy it."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    after = text.split("Verifying a delivery", 1)[1]
    code = after.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), scope)
    return scope["verify"]


def test_the_readmes_snippet_verifies_a_real_delivery(database_url: str, tmp_path: Path) -> None:
    verify = _readme_verify()
    found = _services(database_url, tmp_path, ManualClock(datetime.now(UTC)))
    try:
        with receiver() as box:
            ann, bob, auction_id = _outbid_world(found, box.url)
            place_bid(found.bus, auction_id, bob, "12.00")
            found.webhooks.deliver_due()
        (got,) = box.got
        _, secret = _secret(found, ann)
        header = got.headers["Commex-Signature"]
        assert verify(secret, header, got.body)
        assert not verify(secret, header, got.body.replace(b"12.00", b"1.00"))
        assert not verify("whsec_another", header, got.body)
    finally:
        found.shutdown()
