"""A uniqueness violation as the commex error the repository contract names, so SQLite,
PostgreSQL and the in-memory fakes refuse the same thing in the same words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Executable
from sqlalchemy.exc import IntegrityError

from commex.domain.errors import Conflict

_UNIQUE_SQLSTATE = "23505"  # PostgreSQL's unique_violation


def is_unique_violation(exc: IntegrityError, column: str) -> bool:
    """Whether ``exc`` is a unique constraint failing on (a key that includes) ``column``."""
    orig = exc.orig
    text = str(orig)
    if getattr(orig, "sqlstate", None) == _UNIQUE_SQLSTATE:
        return column in text  # PostgreSQL names the constraint, and with it the column
    return text.startswith("UNIQUE constraint failed") and f".{column}" in text


def execute_unique(
    conn: Connection,
    statement: Executable,
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
    column: str,
    conflict: Conflict,
) -> None:
    """Execute an insert, raising ``conflict`` when it breaks the uniqueness of ``column``."""
    try:
        conn.execute(statement, params)
    except IntegrityError as exc:
        if is_unique_violation(exc, column):
            raise conflict from exc
        raise
