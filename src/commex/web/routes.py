"""The web pages (Jinja2 + HTMX, live updates over server-sent events), as one router."""

from __future__ import annotations

from fastapi import APIRouter

from commex.web import (
    accounts,
    contract_moderation,
    contracts,
    devices,
    groups,
    live,
    market,
    moderation,
    pages,
    payments,
    security,
)

router = APIRouter(include_in_schema=False)
router.include_router(pages.router)
router.include_router(live.router)
router.include_router(accounts.router)
router.include_router(contracts.router)
router.include_router(devices.router)
router.include_router(payments.router)
router.include_router(groups.router)
router.include_router(market.router)
router.include_router(security.router)
router.include_router(moderation.router)
router.include_router(contract_moderation.router)
