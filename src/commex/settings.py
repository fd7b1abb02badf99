"""Configuration from the environment, read once at the edge."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from commex.domain.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Settings:
    """``COMMEX_DATABASE_URL`` (a SQLAlchemy URL) or, by default, ``commex.db`` in
    ``COMMEX_DATA_DIR`` (default ``./.commex``)."""

    data_dir: Path
    database_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("COMMEX_DATA_DIR") or ".commex").expanduser()
        url = env.get("COMMEX_DATABASE_URL") or None
        if url is not None and "://" not in url:
            raise InvalidInput(
                "COMMEX_DATABASE_URL must be a SQLAlchemy URL such as "
                "postgresql+psycopg://user:password@host/db",
                field="COMMEX_DATABASE_URL",
            )
        return cls(data_dir=data_dir, database_url=url)

    def url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'commex.db').resolve()}"
