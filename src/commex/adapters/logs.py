"""Logs for operators: one JSON object per line on stderr (or a line of text), each carrying the
id of the request it was written for.

``commex serve`` and ``commex node serve`` set it up with ``--log-format json|text`` and
``--log-level``; the level applies to commex's own loggers and the HTTP server's (its access
lines included). Libraries stay at WARNING: the database driver's debug lines would carry the
values of statements, and those hold credentials' hashes and gateway tokens.

No secret reaches a log. commex never logs a request body, a header or a credential, and as a
second line of defence every line is scrubbed of what looks like one: API, device and session
tokens, node keys and work tokens (``cx_``, ``cxd_``, ``cs_``, ``cxn_``, ``cxw_``), ``Bearer``
credentials, payment-gateway keys and card tokens, card numbers (digit runs that pass the Luhn
check), and the value after a ``password``, ``token``, ``secret``, ``csrf`` or ``cvc`` key.
"""

from __future__ import annotations

import json
import logging
import logging.config
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from json.encoder import encode_basestring as _str
from typing import Any

from commex.services.request_context import current_request_id

FORMATS = ("json", "text")
LEVELS = ("debug", "info", "warning", "error")
OWN_LOGGERS = ("commex", "uvicorn", "uvicorn.error", "uvicorn.access")
REDACTED = "[redacted]"
ACCESS_LOGGER = "commex.access"
_ACCESS_FIELDS = ("method", "path", "status", "ms")

_TOKEN = re.compile(r"\b(cxd|cxn|cxw|cx|cs)_[A-Za-z0-9_-]{16,}")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+")
_GATEWAY = re.compile(r"\b(sk|rk|pk)_(live|test)_[A-Za-z0-9]+|\b(tok|pm)_[A-Za-z0-9_]{8,}")
_KEYED = re.compile(
    r"(?i)\b(password|passwd|token|secret|csrf|cvc|authorization|cookie)([\"']?\s*[:=]\s*)"
    r"(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|(?!\[redacted\])[^\s\"'&,;}]+)"
)
# Card numbers: 12 to 19 digits (spaces or dashes between), starting as issuers' numbers do (2
# to 6), passing the Luhn check; other numbers (times in microseconds, amounts) stay.
_DIGITS = re.compile(r"\b[2-6](?:[ -]?\d){11,18}\b")
# Any of the above, in one pass: most lines hold none, and then the five substitutions are
# skipped. Matching without case is a superset of each pattern, so nothing is missed.
_ANY = re.compile(
    "|".join(p.pattern.removeprefix("(?i)") for p in (_TOKEN, _BEARER, _GATEWAY, _KEYED, _DIGITS)),
    re.IGNORECASE,
)
_FLUSH_HELD: ContextVar[bool] = ContextVar("commex_log_flush_held", default=False)
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "color_message",  # uvicorn's coloured copy of the message
}


def scrub(text: str) -> str:
    """``text`` with anything shaped like a secret replaced by ``[redacted]``."""
    if _ANY.search(text) is None:
        return text
    text = _TOKEN.sub(lambda m: f"{m.group(1)}_{REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _GATEWAY.sub(REDACTED, text)
    text = _KEYED.sub(_keyed, text)
    return _DIGITS.sub(_card_or_digits, text)


def _keyed(m: re.Match[str]) -> str:
    value = m.group(3)
    quote = value[0] if value[0] in "\"'" else ""
    return f"{m.group(1)}{m.group(2)}{quote}{REDACTED}{quote}"


def _card_or_digits(m: re.Match[str]) -> str:
    digits = [int(d) for d in m.group(0) if d.isdigit()]
    total = sum(
        d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(reversed(digits))
    )
    return "[card number]" if total % 10 == 0 else m.group(0)


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler (stderr): each line is written and flushed as it comes, except lines
    written together (:func:`lines_together`), which go out in one write at the end."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._held: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not _FLUSH_HELD.get():
            super().emit(record)
            return
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self._held.append(line)  # under the handler's lock, which handle() holds

    def write_lines(self, text: str, logger: str) -> None:
        """Write ``text``, whole lines already formatted for ``logger``, as :meth:`emit` would
        write a record's line: held while this thread writes lines together, else at once."""
        with self.lock:  # type: ignore[union-attr]
            if _FLUSH_HELD.get():
                self._held.append(text)
                return
            try:
                self.stream.write(text)
                self.stream.flush()
            except Exception:
                self.handleError(logging.makeLogRecord({"name": logger, "msg": text}))

    def write_held(self) -> None:
        """Write the lines held so far in one go."""
        with self.lock:  # type: ignore[union-attr]
            held, self._held = self._held, []
            if held:
                self.stream.write("".join(held))
                self.stream.flush()


@contextmanager
def lines_together(logger: logging.Logger) -> Iterator[None]:
    """Lines this thread logs on ``logger`` in the block reach its stderr in one write at the
    end, not one write (and one system call) per line."""
    token = _FLUSH_HELD.set(True)
    try:
        yield
    finally:
        _FLUSH_HELD.reset(token)
        current: logging.Logger | None = logger
        while current is not None:
            for handler in current.handlers:
                if isinstance(handler, LineHandler):
                    handler.write_held()
            current = current.parent if current.propagate else None


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being served (None outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


class LibraryCap(logging.Filter):
    """Lets a library's record through from WARNING up only, even when the library set its
    own logger lower (SQLAlchemy's ``echo`` sets ``sqlalchemy.engine`` to INFO, and its
    statements would then carry their values); commex's and the HTTP server's loggers keep
    the level asked for."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or _own(record.name)


def _own(name: str) -> bool:
    return any(name == own or name.startswith(f"{own}.") for own in OWN_LOGGERS)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request id, the record's
    extra fields, and the exception if any, each scrubbed."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name == ACCESS_LOGGER and not record.exc_info:
            return _access_line(record)
        line: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            line["request_id"] = request_id
        line.update(_access_fields(record))
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in line:
                line[key] = value if isinstance(value, int | float | bool) else scrub(str(value))
        if record.exc_info:
            line["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def _timestamp(created: float) -> str:
    """``created`` (``time.time()``) as ISO 8601 in UTC to the millisecond, as
    ``datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")`` writes it:
    the date and time to the second are made once per second."""
    fraction, whole = math.modf(created)
    micros = round(fraction * 1e6)  # as fromtimestamp rounds (half to even)
    if not 0 <= micros < 1_000_000:  # rounded up to the next second, or before 1970
        return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    second, text = _LAST_SECOND[0]
    if second != whole:
        text = datetime.fromtimestamp(whole, UTC).isoformat(timespec="seconds")[:-6]
        _LAST_SECOND[0] = (whole, text)
    return f"{text}.{micros // 1000:03d}+00:00"


_LAST_SECOND: list[tuple[float, str]] = [(-1.0, "")]  # the last second written, and its text


def _access_line(record: logging.LogRecord) -> str:
    """:class:`JsonFormatter`'s line for commex's own access log, whose records carry the
    same four fields each time (see :func:`commex.api.layers.log_access`)."""
    get = record.__dict__.get
    fields = tuple(get(key) for key in _ACCESS_FIELDS)
    return _access_json(
        record.created,
        record.levelname.lower(),
        record.name,
        record.getMessage(),
        get("request_id"),
        fields,
    )


def _access_json(
    created: float,
    level: str,
    logger: str,
    message: str,
    request_id: object,
    fields: Sequence[object],
) -> str:
    """The same object as the general path makes, without looking through the record for
    what else it might hold. The message holds each field's text between spaces: when it
    holds nothing to scrub, neither does such a field (no pattern's match in the field alone
    would not also match in the message), which is then not searched again."""
    clean = _ANY.search(message) is None
    line = [
        f'{{"ts": "{_timestamp(created)}", "level": {_str(level)}, '
        f'"logger": {_str(logger)}, "message": {_str(message if clean else scrub(message))}'
    ]
    if request_id:
        line.append(f'"request_id": {_json(request_id)}')
    for key, given in zip(_ACCESS_FIELDS, fields, strict=True):
        if given is None:
            continue
        value = given
        if not isinstance(given, int | float | bool):
            text = str(given)
            value = text if clean and f" {text} " in f" {message} " else scrub(text)
        line.append(f'"{key}": {_json(value)}')
    return ", ".join(line) + "}"


AccessLine = tuple[float, str, str | None, str, str, int, float]
"""An access line's parts: when, message, request id, method, path, status, milliseconds."""


def write_access_lines(logger: logging.Logger, lines: Sequence[AccessLine]) -> bool:
    """Write access lines of ``logger`` (which is enabled for INFO) in one write, straight to
    the one handler they would reach, when that is commex's JSON line handler and nothing on
    their way would change them (as :func:`configure` sets the logs up): the lines are those
    the records would give, without making and passing on a record for each. False, with
    nothing written, for any other set-up: the caller then logs them one by one."""
    handler = _json_line_handler(logger)
    if handler is None:
        return False
    if not lines:
        return True
    text = "".join(
        _access_json(created, "info", logger.name, message,
                     request_id if request_id is not None else current_request_id(), fields)
        + "\n"
        for created, message, request_id, *fields in lines
    )  # fmt: skip
    handler.write_lines(text, logger.name)
    return True


_PASSING = (RequestIdFilter, LibraryCap)  # filters that let an access line through as it is


def _json_line_handler(logger: logging.Logger) -> LineHandler | None:
    """The one handler an INFO record of ``logger`` reaches, when it is a :class:`LineHandler`
    with a :class:`JsonFormatter` and only filters that pass such a record unchanged but for
    its request id; None otherwise."""
    if not _own(logger.name):  # a library's INFO line would not pass LibraryCap
        return None
    found: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        found += current.handlers
        current = current.parent if current.propagate else None
    if len(found) != 1:
        return None
    handler = found[0]
    if (
        type(handler) is not LineHandler
        or type(handler.formatter) is not JsonFormatter
        or handler.level > logging.INFO
        or not all(type(f) in _PASSING for f in handler.filters)
    ):
        return None
    return handler


def _json(value: object) -> str:
    """``value`` (text, a number or a truth) as ``json.dumps(value, ensure_ascii=False)``
    writes it, without the encoder's general machinery."""
    if isinstance(value, str):
        return _str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and math.isfinite(value):
        return int.__repr__(value) if isinstance(value, int) else float.__repr__(value)
    return json.dumps(value, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """A line of text: time, level, logger, request id and message, scrubbed."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = None
        return scrub(super().format(record))


def _access_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The HTTP server's access line as fields: client, method, path and status."""
    if record.name != "uvicorn.access" or not isinstance(record.args, tuple):
        return {}
    if len(record.args) != 5:
        return {}
    client, method, path, _version, status = record.args
    return {"client": str(client), "method": str(method), "path": scrub(str(path)),
            "status": status}  # fmt: skip


def logging_config(fmt: str = "json", level: str = "info") -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of ``fmt`` at ``level`` (the HTTP server applies it
    in each of its processes)."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    if level not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}")
    formatter = JsonFormatter if fmt == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}, "libraries": {"()": LibraryCap}},
        "formatters": {"commex": {"()": formatter}},
        "handlers": {
            "stderr": {
                "()": LineHandler,
                "stream": "ext://sys.stderr",
                "formatter": "commex",
                "filters": ["libraries", "request_id"],
            }
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {
            name: {"level": level.upper(), "handlers": [], "propagate": True}
            for name in OWN_LOGGERS
        },
    }


def configure(fmt: str = "json", level: str = "info") -> dict[str, Any]:
    """Send every log record to stderr as ``fmt`` (commex's and the HTTP server's from
    ``level`` up, every library's from WARNING up, whatever level it set itself); returns the
    configuration applied."""
    config = logging_config(fmt, level)
    logging.config.dictConfig(config)
    return config
