"""Accounts and parties, processing offers and devices on the wire. A reputation's own form
(the Rep of SPEC section 8) is the domain value's ``to_dict``."""

from __future__ import annotations

from typing import Any

from commex.services.results import AccountView, OfferLine, Party, Registered, RegisteredDevice


def party(p: Party) -> dict[str, Any]:
    """An account as others see it: its name and its reputation in the role that matters,
    with that role and the reputation in words."""
    rep = p.reputation.to_dict() | {"role": p.role.value, "summary": p.reputation.describe()}
    return {"id": p.id, "name": p.name, "reputation": rep}


def account(v: AccountView) -> dict[str, Any]:
    """An account's public face: its reputation in both roles."""
    a = v.account
    return {
        "id": a.id,
        "name": a.name,
        "roles": sorted(a.roles),
        "reputation": {
            "as_provider": v.as_provider.to_dict(),
            "as_recipient": v.as_recipient.to_dict(),
        },
    }


def registered(r: Registered) -> dict[str, Any]:
    """A new account with its token, shown this once."""
    a = r.account
    return {
        "id": a.id,
        "name": a.name,
        "roles": sorted(a.roles),
        "owner_id": a.owner,
        "token": r.token,
    }


def offer(line: OfferLine) -> dict[str, Any]:
    o = line.offer
    return {
        "provider": party(line.provider),
        "node_url": o.node_url,
        "capabilities": sorted(o.capabilities),
        "price": str(o.price),
        "currency": o.price.currency,
        "updated_at": o.updated_at.isoformat(),
        "checks": {"positive": line.checks[0], "negative": line.checks[1]},
    }


def registered_device(reg: RegisteredDevice) -> dict[str, Any]:
    """A new device with its own token, shown this once."""
    d = reg.device
    return {
        "id": d.id,
        "name": d.name,
        "user": d.user,
        "phone_numbers": list(d.phone_numbers),
        "token": reg.token,
    }
