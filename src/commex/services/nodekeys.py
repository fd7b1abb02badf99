"""Node keys (S10): a provider's nodes authenticate with keys the exchange issued to that
provider (shown once, stored as their SHA-256, revocable), or with the provider's own token;
no secret is shared across providers."""

from __future__ import annotations

from commex.domain import nodekeys as rules
from commex.domain.accounts import Role
from commex.domain.errors import Forbidden, Unauthenticated
from commex.domain.nodekeys import NODE_KEY_PREFIX, NodeKey
from commex.services import audit
from commex.services import subcontract_messages as m
from commex.services.accounts import MAX_TOKEN, authenticate, new_token, token_hash
from commex.services.bus import Deps
from commex.services.loading import account_of, check_id
from commex.services.ports import UnitOfWork
from commex.services.subcontract_results import IssuedKey, NodeCaller


def issue_node_key(cmd: m.IssueNodeKey, uow: UnitOfWork, deps: Deps) -> IssuedKey:
    """A new key for one of the provider's nodes; the key is in the answer this once."""
    provider = account_of(uow, cmd.provider_id)
    active = sum(1 for k in uow.node_keys.of_provider(provider.id) if k.active)
    secret = new_token(NODE_KEY_PREFIX)
    key = rules.issue(provider, cmd.name, active, deps.ids.new("nk"), secret, deps.clock.now())
    uow.node_keys.add(key, token_hash(secret))
    audit.record(uow, deps, "node_key.issued", key.id, by=provider.id, detail={"name": key.name})
    return IssuedKey(key, secret)


def revoke_node_key(cmd: m.RevokeNodeKey, uow: UnitOfWork, deps: Deps) -> NodeKey:
    """Revoke one of the provider's keys: from now on it authenticates nothing."""
    key_id = check_id("node key", cmd.key_id)
    revoked = rules.revoke(uow.node_keys.get(key_id), cmd.provider_id, key_id, deps.clock.now())
    uow.node_keys.revoke(revoked.id, deps.clock.now())
    audit.record(uow, deps, "node_key.revoked", revoked.id, by=revoked.provider_id)
    return revoked


def node_keys(query: m.NodeKeys, uow: UnitOfWork, deps: Deps) -> list[NodeKey]:
    return uow.node_keys.of_provider(account_of(uow, query.provider_id).id)


def authenticate_node(query: m.AuthenticateNode, uow: UnitOfWork, deps: Deps) -> NodeCaller:
    """The provider a node acts for: by one of its active node keys, or by the provider's own
    token. A revoked or unknown key is Unauthenticated; a non-provider account Forbidden."""
    token = query.token
    if isinstance(token, str) and token.startswith(NODE_KEY_PREFIX):
        key = None if len(token) > MAX_TOKEN else uow.node_keys.by_hash(token_hash(token))
        if key is None or not key.active:
            raise Unauthenticated("that node key is unknown or revoked")
        return NodeCaller(key.provider_id, key.id)
    account = authenticate(uow, token)
    if not account.has(Role.PROVIDER):
        raise Forbidden("only a provider's nodes do subcontracted work")
    return NodeCaller(account.id)
