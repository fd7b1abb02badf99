"""Configuration from the environment, read once at the edge."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from commex.domain.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Settings:
    """``COMMEX_DATABASE_URL`` (a SQLAlchemy URL) or, by default, ``commex.db`` in
    ``COMMEX_DATA_DIR`` (default ``./.commex``). Card payments go through
    ``COMMEX_PAYMENT_GATEWAY`` (``test``, the default, or ``stripe`` with
    ``COMMEX_STRIPE_API_KEY`` and optionally ``COMMEX_STRIPE_API_BASE``).
    ``COMMEX_ALLOW_PRIVATE_URLS=1`` lets node offers name private addresses (a local
    deployment); off by default. ``COMMEX_PUBLIC_URL`` is the address people reach the
    exchange at: with ``https://`` its cookies are ``Secure`` and every answer carries HSTS.
    ``COMMEX_ACCESS_LOG=0`` switches the server's access log off.

    ``COMMEX_BID_WRITER`` and ``COMMEX_BID_WRITER_SECRET`` are set by ``commex serve
    --workers N`` on SQLite for its own worker processes (the bid writer's socket and the
    secret of this start); they are not for people to set."""

    data_dir: Path
    database_url: str | None = None
    payment_gateway: str = "test"
    stripe_api_key: str | None = field(default=None, repr=False)  # a secret: never printed
    stripe_api_base: str | None = None
    allow_private_urls: bool = False
    public_url: str | None = None
    access_log: bool = True
    bid_writer: Path | None = None
    bid_writer_secret: str | None = field(default=None, repr=False)  # a secret: never printed

    @property
    def https(self) -> bool:
        """Whether the exchange is served over HTTPS (its public address says so)."""
        return bool(self.public_url and self.public_url.startswith("https://"))

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
        gateway, key, base = _payment_settings(env)
        writer, secret = _bid_writer(env)
        return cls(
            data_dir=data_dir,
            database_url=url,
            payment_gateway=gateway,
            stripe_api_key=key,
            stripe_api_base=base,
            allow_private_urls=_flag(env, "COMMEX_ALLOW_PRIVATE_URLS"),
            public_url=_public_url(env),
            access_log=_flag(env, "COMMEX_ACCESS_LOG", default=True),
            bid_writer=writer,
            bid_writer_secret=secret,
        )

    def url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'commex.db').resolve()}"


PAYMENT_GATEWAYS = ("test", "stripe")
_YES, _NO = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def _flag(env: Mapping[str, str], name: str, *, default: bool = False) -> bool:
    """An on/off setting: 1, true, yes, on or 0, false, no, off (unset is ``default``)."""
    value = (env.get(name) or "").strip().lower()
    if not value:
        return default
    if value not in _YES + _NO:
        raise InvalidInput(f"{name} must be 1 or 0", field=name)
    return value in _YES


def _public_url(env: Mapping[str, str]) -> str | None:
    value = (env.get("COMMEX_PUBLIC_URL") or "").strip().rstrip("/") or None
    if value is not None and not value.startswith(("http://", "https://")):
        raise InvalidInput(
            "COMMEX_PUBLIC_URL must be an http(s) address such as https://exchange.example",
            field="COMMEX_PUBLIC_URL",
        )
    return value


def _bid_writer(env: Mapping[str, str]) -> tuple[Path | None, str | None]:
    """Where a worker of ``commex serve --workers N`` reaches the bid writer, and its secret."""
    path = (env.get("COMMEX_BID_WRITER") or "").strip() or None
    secret = (env.get("COMMEX_BID_WRITER_SECRET") or "").strip() or None
    if path is not None and (secret is None or len(secret) < 32):
        raise InvalidInput(
            "COMMEX_BID_WRITER needs COMMEX_BID_WRITER_SECRET (at least 32 characters)",
            field="COMMEX_BID_WRITER_SECRET",
        )
    return (None if path is None else Path(path)), secret


def _payment_settings(env: Mapping[str, str]) -> tuple[str, str | None, str | None]:
    """The payment gateway's name, Stripe key and Stripe address, checked."""
    gateway = (env.get("COMMEX_PAYMENT_GATEWAY") or "test").strip().lower()
    if gateway not in PAYMENT_GATEWAYS:
        raise InvalidInput(
            f"COMMEX_PAYMENT_GATEWAY must be one of {', '.join(PAYMENT_GATEWAYS)}, not {gateway!r}",
            field="COMMEX_PAYMENT_GATEWAY",
        )
    key = (env.get("COMMEX_STRIPE_API_KEY") or "").strip() or None
    base = (env.get("COMMEX_STRIPE_API_BASE") or "").strip().rstrip("/") or None
    if gateway == "stripe" and key is None:
        raise InvalidInput(
            "COMMEX_PAYMENT_GATEWAY=stripe needs COMMEX_STRIPE_API_KEY (a secret key, sk_...)",
            field="COMMEX_STRIPE_API_KEY",
        )
    if key is not None and not key.startswith(("sk_", "rk_")):
        raise InvalidInput(
            "COMMEX_STRIPE_API_KEY must be a secret or restricted key (sk_... or rk_...)",
            field="COMMEX_STRIPE_API_KEY",
        )
    if base is not None and not base.startswith(("http://", "https://")):
        raise InvalidInput(
            "COMMEX_STRIPE_API_BASE must be an http(s) address such as http://localhost:8420",
            field="COMMEX_STRIPE_API_BASE",
        )
    return gateway, key, base
