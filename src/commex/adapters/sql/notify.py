"""Live pages on every server of one PostgreSQL database: a relay over LISTEN/NOTIFY.

Each process NOTIFYs the auction ids its commits changed on the ``commex_changes`` channel, and
a listener thread of its own LISTENs on that channel and wakes its :class:`ChangeHub` with
what the other processes (and itself) changed. Pages still re-read the database; the relay
only tells them when. A lost connection is reopened (with a growing pause), and after a gap
every page is woken once, so nothing changed meanwhile is missed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection

import psycopg
from sqlalchemy.engine import make_url

from commex.adapters.events import ChangeHub

CHANNEL = "commex_changes"
MAX_PAYLOAD = 7000  # NOTIFY payloads stop at 8000 bytes
CONNECT_TIMEOUT_S = 2  # a commit's notify never waits long on a database that is away
STOP_CHECK_S = 0.1  # how often the idle listener looks whether it was stopped (no query sent)
log = logging.getLogger("commex.notify")


def conninfo(sqlalchemy_url: str) -> str:
    """A libpq connection URI for a SQLAlchemy PostgreSQL URL."""
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class PgRelay:
    """NOTIFYs this process's changes and LISTENs for everyone's, for one :class:`ChangeHub`."""

    def __init__(self, url: str, hub: ChangeHub) -> None:
        self._conninfo = conninfo(url)
        self._hub = hub
        self._send_lock = threading.Lock()
        self._sender: psycopg.Connection[tuple[object, ...]] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()  # set while LISTEN is in force
        hub.relay_to(self.notify)

    def notify(self, keys: Collection[str]) -> None:
        """Tell every process (this one included) that ``keys`` changed."""
        payload = ",".join(sorted(k for k in keys if k != "*"))[:MAX_PAYLOAD] or "*"
        with self._send_lock:
            try:
                if self._sender is None or self._sender.closed:
                    self._sender = psycopg.connect(
                        self._conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
                    )
                self._sender.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
            except psycopg.Error:
                log.warning("could not notify the other servers; their pages will catch up")
                self._drop_sender()

    def _drop_sender(self) -> None:
        """Close the sending connection (a broken one too: its socket is not left open)."""
        sender, self._sender = self._sender, None
        if sender is not None:
            try:
                sender.close()
            except psycopg.Error:  # closing a broken connection may fail; it is gone either way
                log.debug("closing a broken notify connection failed", exc_info=True)

    def start(self) -> None:
        """Start listening (a daemon thread); the hub then counts as shared."""
        self._hub.shared = True
        self._thread = threading.Thread(target=self._listen, name="commex-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._send_lock:
            self._drop_sender()

    def _listen(self) -> None:
        pause = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    self._hub.wake_all()  # whatever happened while not listening
                    pause = 0.5
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=STOP_CHECK_S):
                            self._hub.wake({"*", *note.payload.split(",")})
            except psycopg.Error:
                log.warning("lost the change feed; reconnecting in %.1f s", pause)
            finally:
                self.listening.clear()
            self._stop.wait(pause)
            pause = min(pause * 2, 10.0)
