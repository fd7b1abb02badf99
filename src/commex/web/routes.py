"""The web pages (Jinja2 + HTMX, live updates over server-sent events)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
