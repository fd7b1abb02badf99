"""Recording changes in the audit trail (O1), and reading it.

**To audit a change**, call :func:`record` in the handler, on the unit of work that makes the
change, before it is committed::

    audit.record(uow, deps, "auction.cancelled", auction.id, by=caller.id,
                 accounts=(auction.owner_id,), reason=cmd.reason)

The entry commits with the change or is rolled back with it, carries the time (the injected
clock), the request id the change answers (see :mod:`commex.services.request_context`), who
acted (``by``: an account, or None for the exchange itself; ``device`` when a client device
acted for ``by``'s account) and the accounts it concerns, which may read it (``by`` first). A
new kind of change names its action in :data:`commex.domain.audit.ACTIONS`. The detail holds
short facts (ids, amounts, outcomes), never a secret or card data.

Operators read every entry (``GET /v1/audit?subject=ID``); an account reads the entries that
concern it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from commex.domain.audit import AuditEntry, make_entry
from commex.domain.errors import InvalidInput, NotFound
from commex.services import queries as q
from commex.services.bus import Deps
from commex.services.loading import account_of, check_id
from commex.services.ports import UnitOfWork
from commex.services.request_context import current_request_id
from commex.services.results import AuditPage

MAX_PAGE = 500


def record(
    uow: UnitOfWork,
    deps: Deps,
    action: str,
    subject_id: str,
    *,
    by: str | None,
    accounts: Iterable[str | None] = (),
    reason: str | None = None,
    detail: Mapping[str, object] | None = None,
    device: str | None = None,
) -> None:
    """Append one entry for a change made in ``uow`` (see the module's docstring)."""
    uow.audit.add(
        [
            entry(
                deps, action, subject_id, by=by, accounts=accounts, reason=reason,
                detail=detail, device=device, request_id=current_request_id(),
            )
        ]
    )  # fmt: skip


def entry(
    deps: Deps,
    action: str,
    subject_id: str,
    *,
    by: str | None,
    request_id: str | None,
    accounts: Iterable[str | None] = (),
    reason: str | None = None,
    detail: Mapping[str, object] | None = None,
    device: str | None = None,
) -> AuditEntry:
    """The entry :func:`record` would append, for callers that append many at once (the bid
    desk answers several requests in one transaction, each with its own request id)."""
    concerned = tuple(a for a in (by, *accounts) if a is not None)
    return make_entry(
        deps.clock.now(), device or by, action, subject_id, concerned, request_id, reason, detail
    )


def show_audit(query: q.ShowAudit, uow: UnitOfWork, deps: Deps) -> AuditPage:
    """The operator reads every entry (those about ``subject`` when given); any other account
    reads the entries that concern it."""
    viewer = account_of(uow, query.viewer_id)
    if not isinstance(query.limit, int) or not 1 <= query.limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1 to {MAX_PAGE}", "limit")
    if not isinstance(query.after, int) or query.after < 0:
        raise InvalidInput("after must be the seq of an entry (0 or more)", "after")
    subject = query.subject_id
    if subject is not None:
        try:
            check_id("subject", subject)
        except NotFound as exc:  # a filter that can name nothing is a mistake, said as such
            raise InvalidInput("subject must be an id such as auc_...", "subject") from exc
    account = None if viewer.is_operator else viewer.id
    entries = uow.audit.read(
        subject_id=subject, account_id=account, after=query.after, limit=query.limit + 1
    )
    more = len(entries) > query.limit
    page = tuple(entries[: query.limit])
    return AuditPage(page, page[-1].seq if more else None)
