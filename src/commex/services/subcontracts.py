"""Subcontracting on the exchange (S5, S10): opening a subcontract as an instant award of
another provider's offer, the subcontractor's node checking and metering the work, and the
plane's check closing it, which rates the subcontractor and charges the packets.

A subcontract is a contract: the subcontracting provider is its recipient and the
subcontractor its provider, and nobody else sees it (the operator aside). The parent contract's
recipient sees, on its contract, that a step was subcontracted and to whom, not the price.
Metering and closing hold the subcontract's row lock, so concurrent reports count once each
and nothing is metered after the packets are settled.
"""

from __future__ import annotations

import hmac

from commex.domain import subcontracts as rules
from commex.domain.accounts import Role
from commex.domain.charges import Charge
from commex.domain.contracts import Contract
from commex.domain.errors import Forbidden, InvalidInput, NotFound
from commex.domain.events import SubcontractClosed, SubcontractOpened
from commex.domain.paging import DEFAULT_LIMIT, Key, Page, check_key, check_limit, page_of
from commex.domain.ratings import Rating
from commex.domain.subcontracts import CHECK_RATER, Opening, Subcontract
from commex.domain.time import to_micros
from commex.services import audit
from commex.services import subcontract_messages as m
from commex.services.access import access
from commex.services.accounts import new_token, token_hash
from commex.services.bus import Deps
from commex.services.loading import account_of, check_id, contract_of
from commex.services.ports import UnitOfWork
from commex.services.ratings import audit_rating, record_rating
from commex.services.results import party
from commex.services.subcontract_results import MeteredRun, OpenedSubcontract, SubcontractLine

WORK_TOKEN_PREFIX = "cxw_"  # noqa: S105 - a visible prefix, not a secret


def open_subcontract(cmd: m.OpenSubcontract, uow: UnitOfWork, deps: Deps) -> OpenedSubcontract:
    """Award ``step`` of the parent contract to the subcontractor's offer, at its price per
    1,000 packets; the answer holds the work token the plane presents to that provider's
    node (shown this once)."""
    parent = contract_of(uow, cmd.parent_contract_id, lock=True)
    opener = account_of(uow, cmd.provider_id)
    if opener.id not in (parent.provider_id, parent.recipient_id) and not opener.is_operator:
        raise NotFound(f"contract {cmd.parent_contract_id} not found")
    if not isinstance(cmd.subcontractor_id, str) or not cmd.subcontractor_id:
        raise InvalidInput("provider_id must name the provider to subcontract to", "provider_id")
    subcontractor = uow.accounts.get(check_id("provider", cmd.subcontractor_id))
    if subcontractor is None:
        raise NotFound(f"provider {cmd.subcontractor_id} not found")
    step = rules.check_step(cmd.step)
    offers = uow.offers.with_capability(rules.capability_of(step))
    auction = uow.auctions.get(parent.auction_id)
    card = uow.payment_methods.default_of(opener.id)
    opening = Opening(
        parent=parent,
        opener=opener,
        subcontractor=subcontractor,
        offer=next((o for o in offers if o.provider_id == subcontractor.id), None),
        approved=frozenset() if auction is None else auction.eligibility.approved_providers,
        has_card=card is not None and card.gateway == deps.gateway.name,
        open_under_parent=sum(1 for s in uow.subcontracts.under_parent(parent.id) if s.is_open),
    )
    now = deps.clock.now()
    sub = rules.open_subcontract(opening, step, deps.ids.new("con"), now)
    work_token = new_token(WORK_TOKEN_PREFIX)
    uow.subcontracts.add(sub, token_hash(work_token))
    uow.record([SubcontractOpened(sub.id, parent.id, step, subcontractor.id, opener.id, now)])
    audit.record(
        uow, deps, "subcontract.opened", sub.id, by=opener.id, accounts=(subcontractor.id,),
        detail={"parent": parent.id, "step": step},
    )  # fmt: skip
    return OpenedSubcontract(line_of(uow, deps, sub, priced=True), work_token)


def check_work(query: m.CheckWork, uow: UnitOfWork, deps: Deps) -> SubcontractLine:
    """Whether a node may do work offered under a subcontract: the subcontract names the
    node's provider, is open, and the work token is the one its plane was given."""
    sub = _for_node(uow, query.subcontract_id, query.node.provider_id, lock=False)
    stored = uow.subcontracts.work_token_hash(sub.id) or ""
    given = query.work_token if isinstance(query.work_token, str) else ""
    if not hmac.compare_digest(token_hash(given), stored):
        raise Forbidden(f"that work token is not the one of subcontract {sub.id}")
    if not sub.is_open:
        raise rules.closed_conflict(sub)
    return line_of(uow, deps, sub, priced=True)


def meter_packets(cmd: m.MeterPackets, uow: UnitOfWork, deps: Deps) -> MeteredRun:
    """The subcontractor's node reports a run's packets: counted once per run id (a repeat
    with the same count is answered the same), never after the subcontract is closed."""
    sub = _for_node(uow, cmd.subcontract_id, cmd.node.provider_id, lock=True)
    run_id, packets = rules.check_run(cmd.run_id, cmd.packets)
    metered = rules.meter(sub, packets, uow.subcontracts.run_packets(sub.id, run_id))
    if metered is not None:
        uow.subcontracts.add_run(sub.id, run_id, packets, deps.clock.now())
        uow.subcontracts.update(metered)
        sub = metered
    return MeteredRun(line_of(uow, deps, sub, priced=True), run_id, packets, metered is None)


def close_subcontract(cmd: m.CloseSubcontract, uow: UnitOfWork, deps: Deps) -> SubcontractLine:
    """The subcontracting plane's check closes the subcontract: an automatic rating of the
    subcontractor (positive for a clean run; negative for a failed check, a dead node or late
    results) and the charge of its packets, the fewer of those metered and those the plane
    sent (none after a failed check), in one transaction. Closing again with the same outcome
    changes nothing."""
    sub = _visible(uow, cmd.subcontract_id, cmd.provider_id, lock=True)
    if sub.subcontracting_id != cmd.provider_id:
        raise Forbidden("only the subcontracting provider closes a subcontract")
    outcome, detail = rules.check_outcome(cmd.outcome, cmd.detail)
    sent = rules.check_sent(cmd.sent)
    now = deps.clock.now()
    closed = rules.close(sub, outcome, detail, now, sent=sent)
    if closed is None:
        return line_of(uow, deps, sub, priced=True)
    uow.subcontracts.update(closed)
    rater = account_of(uow, closed.subcontracting_id)
    rating = rules.check_rating(closed, deps.ids.new("rat"), now)
    record_rating(uow, rating, rater.owner, now)
    charge = rules.settlement(closed, deps.ids.new("chg"), now)
    if charge is not None:
        uow.charges.add_many([charge])
    _audit_close(uow, deps, closed, rating, charge, (sub.packets, sent))
    uow.record([SubcontractClosed(closed.id, outcome.value, closed.packets, now)])
    return line_of(uow, deps, closed, priced=True)


def _audit_close(
    uow: UnitOfWork,
    deps: Deps,
    closed: Subcontract,
    rating: Rating,
    charge: Charge | None,
    counts: tuple[int, int],
) -> None:
    """The close (with the packets metered and sent it settled from), its automatic rating
    and its charge, each an entry of the audit trail."""
    audit.record(
        uow, deps, "subcontract.closed", closed.id, by=closed.subcontracting_id,
        accounts=(closed.subcontractor_id,), reason=closed.detail,
        detail={"outcome": closed.outcome.value if closed.outcome else None,
                "packets": closed.packets, "metered": counts[0], "sent": counts[1]},
    )  # fmt: skip
    audit_rating(uow, deps, rating, closed.subcontracting_id)
    if charge is not None:
        audit.record(
            uow, deps, "charge.created", closed.id, by=None,
            accounts=(charge.payer_id, charge.provider_id),
            detail={"charge": charge.id, "amount": str(charge.amount),
                    "currency": charge.amount.currency},
        )  # fmt: skip


def show_subcontract(query: m.ShowSubcontract, uow: UnitOfWork, deps: Deps) -> SubcontractLine:
    """A subcontract, to its two providers and the operator only."""
    return line_of(uow, deps, _visible(uow, query.subcontract_id, query.viewer_id, lock=False))


def my_subcontracts(query: m.MySubcontracts, uow: UnitOfWork, deps: Deps) -> Page[SubcontractLine]:
    """A page of the viewer's subcontracts, read a page at a time by key (a busy provider's
    list only grows)."""
    account_of(uow, query.viewer_id)
    limit = check_limit(query.limit)
    after = check_key(query.after, (int, str))
    rows = uow.subcontracts.of_account(query.viewer_id, after, limit + 1)
    found = page_of(rows, limit, lambda s: (to_micros(s.contract.created_at), s.id))
    return Page(tuple(line_of(uow, deps, s) for s in found.items), found.next_key)


def parent_subcontracts(
    query: m.ParentSubcontracts, uow: UnitOfWork, deps: Deps
) -> Page[SubcontractLine]:
    """A page of the contract's own subcontracts, to whoever may see the contract."""
    parent = access(uow, query.contract_id, query.caller, lock=False).contract
    limit = check_limit(query.limit)
    after = check_key(query.after, (int, str))
    return lines_under(uow, deps, parent, query.caller.account_id, after, limit)


def lines_under(
    uow: UnitOfWork,
    deps: Deps,
    parent: Contract,
    viewer_id: str | None,
    after: Key | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[SubcontractLine]:
    """A page of the parent contract's subcontracts as ``viewer_id`` sees them: with prices for
    the parent's provider and the operator, without for its recipient and members."""
    viewer = None if viewer_id is None else uow.accounts.get(viewer_id)
    priced = viewer is not None and (viewer.id == parent.provider_id or viewer.is_operator)
    rows = uow.subcontracts.under_parent(parent.id, after, limit + 1)
    found = page_of(rows, limit, lambda s: (to_micros(s.contract.created_at), s.id))
    return Page(tuple(line_of(uow, deps, s, priced=priced) for s in found.items), found.next_key)


def line_of(
    uow: UnitOfWork, deps: Deps, sub: Subcontract, *, priced: bool = True
) -> SubcontractLine:
    """The subcontract with both providers (and their provider reputations), and for a viewer
    who may see prices, its automatic rating and charge."""
    ids = {sub.subcontractor_id, sub.subcontracting_id}
    accounts = uow.accounts.get_many(ids)
    reps = deps.reputations.of_many(uow, ids, Role.PROVIDER)
    ratings = [r for r in uow.ratings.of_contract(sub.id) if r.rater_key == CHECK_RATER]
    charges = uow.charges.for_contract(sub.id) if priced else []
    return SubcontractLine(
        subcontract=sub,
        subcontractor=party(
            accounts.get(sub.subcontractor_id), sub.subcontractor_id, Role.PROVIDER,
            reps[sub.subcontractor_id],
        ),
        subcontracting=party(
            accounts.get(sub.subcontracting_id), sub.subcontracting_id, Role.PROVIDER,
            reps[sub.subcontracting_id],
        ),
        priced=priced,
        rating=ratings[0] if ratings else None,
        charge=charges[0] if charges else None,
    )  # fmt: skip


def _visible(uow: UnitOfWork, subcontract_id: str, viewer_id: str, *, lock: bool) -> Subcontract:
    """The subcontract, if the viewer is one of its providers or the operator; to anyone else
    it does not exist."""
    sid = check_id("subcontract", subcontract_id)
    sub = uow.subcontracts.get_for_update(sid) if lock else uow.subcontracts.get(sid)
    viewer = account_of(uow, viewer_id)
    if sub is None or (
        viewer.id not in (sub.subcontractor_id, sub.subcontracting_id) and not viewer.is_operator
    ):
        raise NotFound(f"subcontract {subcontract_id} not found")
    return sub


def _for_node(uow: UnitOfWork, subcontract_id: str, provider_id: str, *, lock: bool) -> Subcontract:
    """The subcontract, if it names the node's provider as its subcontractor: a node of any
    other provider is told it does not exist."""
    sid = check_id("subcontract", subcontract_id)
    sub = uow.subcontracts.get_for_update(sid) if lock else uow.subcontracts.get(sid)
    if sub is None or sub.subcontractor_id != provider_id:
        raise NotFound(f"subcontract {subcontract_id} not found for this node's provider")
    return sub
