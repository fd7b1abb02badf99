"""Which function handles which message: one handler per command and query, grouped by area
in their modules. The bootstrap builds the message bus from these tables."""

from __future__ import annotations

from typing import Any

from commex.domain.events import Event
from commex.services import (
    accounts,
    auction_views,
    auctions,
    audit,
    billing,
    billing_views,
    capacity,
    charts,
    contracts,
    devices,
    directory,
    finding,
    group_views,
    groups,
    lifecycle,
    moderation,
    nodekeys,
    notifications,
    offers,
    passwords,
    payments,
    ratings,
    refunds,
    security,
    subcontracts,
    usage,
    webhooks,
)
from commex.services import commands as c
from commex.services import marketplace as m
from commex.services import queries as q
from commex.services import subcontract_messages as sm
from commex.services import trust_messages as tm
from commex.services.bus import Flow, Handler, TransactionSubscriber
from commex.services.commands import Message

HANDLERS: dict[type[Message[Any]], Handler] = {
    # accounts and who is calling
    c.RotateToken: accounts.rotate_token,
    c.Logout: accounts.logout,
    q.Authenticate: accounts.authenticated,
    q.ShowAccount: accounts.show_account,
    q.ShowParty: accounts.show_party,
    q.AnyAccounts: accounts.any_accounts,
    # auctions and offers
    c.OpenAuction: auctions.open_auction,
    c.CloseAuction: auctions.close_auction,
    c.CancelAuction: auctions.cancel_auction,
    c.StartDue: auctions.start_due,
    c.CompleteDue: lifecycle.complete_due,
    q.ShowAuction: auction_views.show_auction,
    q.AuctionState: auction_views.auction_state,
    q.ListAuctions: auction_views.list_auctions,
    c.PublishOffer: offers.publish_offer,
    q.FindProcessors: offers.find_processors,
    # contracts in use
    c.AddMember: contracts.add_member,
    c.RemoveMember: contracts.remove_member,
    q.ShowContract: contracts.show_contract,
    q.PartyContract: contracts.party_contract,
    q.MyContracts: contracts.my_contracts,
    q.MyContractLines: contracts.my_contract_lines,
    q.ProviderContracts: contracts.provider_contracts,
    c.StartSession: usage.start_session,
    c.EndSession: usage.end_session,
    c.ReportUsage: usage.report_usage,
    c.RecordDelivery: usage.record_delivery,
    q.ShowUsage: usage.show_usage,
    c.SetCapacity: capacity.set_capacity,
    q.ShowCapacity: capacity.show_capacity,
    c.RegisterDevice: devices.register_device,
    q.AuthenticateDevice: devices.authenticated_device,
    q.DevicesOf: devices.devices_of,
    c.Rate: ratings.rate,
    # groups
    c.CreateGroup: groups.create_group,
    c.InviteToGroup: groups.invite,
    c.AnswerGroup: groups.answer,
    c.Sponsor: groups.sponsor,
    c.OpenGroupAuction: groups.open_group_auction,
    q.ShowGroup: group_views.show_group,
    q.MyGroups: group_views.my_groups,
    # billing and cards
    q.ShowContractCharges: billing_views.show_contract_charges,
    q.MyCharges: billing_views.my_charges,
    c.RemoveCard: payments.remove_card,
    c.MakeDefaultCard: payments.make_default_card,
    q.ListCards: payments.list_cards,
    q.DefaultCard: payments.default_card,
    # the marketplace: finding, following, hearing
    m.FindAuctions: finding.find_auctions,
    m.Watch: finding.watch,
    m.Unwatch: finding.unwatch,
    m.MyWatchlist: finding.my_watchlist,
    m.Watching: finding.watching,
    m.RemindWatchers: finding.remind_watchers,
    m.MyNotifications: notifications.my_notifications,
    m.UnreadCount: notifications.unread_count,
    m.MarkRead: notifications.mark_read,
    m.SpreadNotices: notifications.spread_notices,
    charts.ReputationHistory: charts.reputation_history,
    directory.RecipientsNamed: directory.recipients_named,
    directory.RecipientNamed: directory.recipient_named,
    charts.ShowContractSeries: charts.contract_series,
    m.CreateWebhook: webhooks.create_webhook,
    m.MyWebhooks: webhooks.my_webhooks,
    m.DeleteWebhook: webhooks.delete_webhook,
    m.WebhookDeliveries: webhooks.webhook_deliveries,
    m.ShowDelivery: webhooks.show_delivery,
    m.RetryDelivery: webhooks.retry_delivery,
    # moderation and each account's own security
    tm.SuspendAccount: moderation.suspend_account,
    tm.ReinstateAccount: moderation.reinstate_account,
    tm.FindAccounts: moderation.find_accounts,
    tm.FindAuctions: moderation.find_auctions,
    tm.HideRating: moderation.hide_rating,
    tm.CancelContract: lifecycle.cancel_contract,
    tm.IssuePasswordReset: passwords.issue_reset,
    tm.ResetLinkAccount: passwords.reset_link_account,
    tm.RevokeDevice: security.revoke_device,
    tm.EndSessions: security.end_sessions,
    # the audit trail
    q.ShowAudit: audit.show_audit,
    # subcontracts between providers, and their nodes' keys
    sm.OpenSubcontract: subcontracts.open_subcontract,
    sm.MeterPackets: subcontracts.meter_packets,
    sm.CloseSubcontract: subcontracts.close_subcontract,
    sm.CheckWork: subcontracts.check_work,
    sm.ShowSubcontract: subcontracts.show_subcontract,
    sm.MySubcontracts: subcontracts.my_subcontracts,
    sm.ParentSubcontracts: subcontracts.parent_subcontracts,
    sm.IssueNodeKey: nodekeys.issue_node_key,
    sm.RevokeNodeKey: nodekeys.revoke_node_key,
    sm.NodeKeys: nodekeys.node_keys,
    sm.AuthenticateNode: nodekeys.authenticate_node,
}

# Use cases that span several transactions (a slow hash, a payment gateway, one close per
# auction); the bid desk, which holds state, is added by the bootstrap.
FLOWS: dict[type[Message[Any]], Flow] = {
    c.Register: accounts.register,
    c.Login: accounts.login,
    q.CurrentSession: accounts.current_session,
    c.CloseDue: auctions.close_due,
    c.ChargeDue: billing.charge_due,
    c.RetryCharges: billing.retry_charges,
    c.AddCard: payments.add_card,
    c.PublishOffer: offers.publish,
    m.CreateWebhook: webhooks.create,
    tm.RefundCharge: refunds.refund_charge,
    tm.ChangePassword: passwords.change_password,
    tm.ResetPassword: passwords.reset_password,
}

# What is written in the change's own transaction: notices, and the webhook outbox they fill.
IN_TRANSACTION: dict[type[Event], list[TransactionSubscriber]] = {
    event: [notifications.record_notices] for event in notifications.TOLD
}
