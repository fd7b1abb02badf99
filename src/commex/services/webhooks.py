"""Webhooks for programs (O4): an account registers endpoints for the event types it wants,
reads each endpoint's delivery log, and asks for a delivery again.

The deliveries themselves are queued by the notification centre in the transaction of the
change (the outbox), and sent by :class:`~commex.services.webhook_sender.WebhookSender` outside
any request.
"""

from __future__ import annotations

from commex.domain.errors import Conflict, NotFound
from commex.domain.notices import parse_types
from commex.domain.paging import Key, check_key, check_limit
from commex.domain.time import to_micros
from commex.domain.webhooks import Webhook, WebhookDelivery, check_count, redeliver
from commex.services import audit
from commex.services.accounts import new_token
from commex.services.bus import Deps, MessageBus
from commex.services.loading import account_of, check_id
from commex.services.marketplace import (
    CreatedWebhook,
    CreateWebhook,
    DeleteWebhook,
    DeliveryLog,
    DeliveryPage,
    MyWebhooks,
    RetryDelivery,
    ShowDelivery,
    WebhookDeliveries,
)
from commex.services.ports import UnitOfWork

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every signing secret, not one


def create(cmd: CreateWebhook, bus: MessageBus) -> CreatedWebhook:
    """A flow: the URL must reach a public address (unless the operator allows private ones);
    its name is resolved before the transaction opens, so a slow DNS answer never holds the
    database's write lock."""
    bus.deps.urls.check(cmd.url, "url")
    parse_types(list(cmd.events), "events")
    with bus.unit_of_work() as uow:
        created = bus.handle_in(uow, cmd)
        uow.commit()
    return created


def create_webhook(cmd: CreateWebhook, uow: UnitOfWork, deps: Deps) -> CreatedWebhook:
    """Store the webhook with a new signing secret (in the answer, this once)."""
    account = account_of(uow, cmd.account_id)
    events = parse_types(list(cmd.events), "events")
    check_count(len(uow.webhooks.of_account(account.id)))
    webhook = Webhook(
        deps.ids.new("whk"), account.id, cmd.url, events, new_token(SECRET_PREFIX),
        deps.clock.now(),
    )  # fmt: skip
    uow.webhooks.add(webhook)
    # neither the secret nor the URL (which may carry a credential of the receiver's) is kept
    audit.record(
        uow, deps, "webhook.created", webhook.id, by=account.id,
        detail={"events": ",".join(sorted(events))},
    )  # fmt: skip
    return CreatedWebhook(webhook)


def my_webhooks(query: MyWebhooks, uow: UnitOfWork, deps: Deps) -> list[Webhook]:
    return uow.webhooks.of_account(query.account_id)


def _own(uow: UnitOfWork, account_id: str, webhook_id: str) -> Webhook:
    """The caller's webhook; another account's is not found (never forbidden: its existence
    is not the caller's to learn)."""
    hook = uow.webhooks.get(check_id("webhook", webhook_id))
    if hook is None or hook.account_id != account_id:
        raise NotFound(f"webhook {webhook_id} not found")
    return hook


def delete_webhook(cmd: DeleteWebhook, uow: UnitOfWork, deps: Deps) -> None:
    hook = _own(uow, cmd.account_id, cmd.webhook_id)
    if not hook.active:
        raise NotFound(f"webhook {cmd.webhook_id} not found")
    uow.webhooks.deactivate(hook.id)
    audit.record(uow, deps, "webhook.removed", hook.id, by=cmd.account_id)


def webhook_deliveries(query: WebhookDeliveries, uow: UnitOfWork, deps: Deps) -> DeliveryPage:
    hook = _own(uow, query.account_id, query.webhook_id)
    limit = check_limit(query.limit)
    after = check_key(query.after, (int, int))
    rows = uow.webhooks.deliveries(hook.id, after, limit + 1)
    shown = rows[:limit]
    next_key: Key | None = None
    if len(rows) > limit:
        last = shown[-1]
        next_key = (to_micros(last.created_at), int(last.id.rsplit("_", 1)[1]))
    return DeliveryPage(tuple(shown), next_key)


def _delivery(
    uow: UnitOfWork, account_id: str, webhook_id: str, delivery_id: str
) -> WebhookDelivery:
    hook = _own(uow, account_id, webhook_id)
    found = uow.webhooks.delivery(check_id("delivery", delivery_id))
    if found is None or found.webhook_id != hook.id:
        raise NotFound(f"delivery {delivery_id} not found")
    return found


def show_delivery(query: ShowDelivery, uow: UnitOfWork, deps: Deps) -> DeliveryLog:
    found = _delivery(uow, query.account_id, query.webhook_id, query.delivery_id)
    return DeliveryLog(found, tuple(uow.webhooks.attempts(found.id)))


def retry_delivery(cmd: RetryDelivery, uow: UnitOfWork, deps: Deps) -> WebhookDelivery:
    """Queue the delivery again, to be sent at once (and retried for a day on failure)."""
    found = _delivery(uow, cmd.account_id, cmd.webhook_id, cmd.delivery_id)
    if not _own(uow, cmd.account_id, cmd.webhook_id).active:
        raise Conflict(f"webhook {cmd.webhook_id} was removed: nothing is sent to it")
    again = redeliver(found, deps.clock.now())
    uow.webhooks.update(again)
    audit.record(
        uow, deps, "webhook.delivery_retried", found.id, by=cmd.account_id,
        detail={"webhook": found.webhook_id, "event": found.event_id},
    )  # fmt: skip
    return again
