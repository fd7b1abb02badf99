"""Log lines: JSON with the request id and the record's fields, text for people, and anything
shaped like a secret scrubbed from either, while ids, times and amounts stay readable."""

from __future__ import annotations

import io
import json
import logging
import sys
from datetime import UTC, datetime

import pytest

from commex.adapters import logs
from commex.api.layers import AccessLines, log_access
from commex.services.request_context import request_id_bound


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("Authorization: Bearer cx_abcdefghijklmnopqrstuvwx", "cx_abcdefghijklmnopqrstuvwx"),
        ("GET /v1/auctions?token=abc123secret&status=open", "abc123secret"),
        ("device cxd_AbCdEfGhIjKlMnOpQrSt0123", "AbCdEfGhIjKlMnOpQrSt0123"),
        ("session cs_0123456789abcdefghij", "0123456789abcdefghij"),
        ("node key cxn_Zyxwvutsrqponmlkjihg9876", "Zyxwvutsrqponmlkjihg9876"),
        ("work token cxw_0a1b2c3d4e5f6g7h8i9j_-xy", "0a1b2c3d4e5f6g7h8i9j_-xy"),
        ("{'password': 'hunter2 is long', 'name': 'x'}", "hunter2 is long"),
        ('"csrf": "Zm9vYmFy_-"', "Zm9vYmFy_-"),
        ("key sk_test_51Habc and card tok_test_ok_0123456789abcdef", "sk_test_51Habc"),
        ("key sk_test_51Habc and card tok_test_ok_0123456789abcdef", "tok_test_ok_0123"),
        ("number 4242 4242 4242 4242 typed", "4242 4242 4242 4242"),
        ("number 5555-5555-5555-4444 typed", "5555-5555-5555-4444"),
        ("number 4000000000000341 typed", "4000000000000341"),
    ],
)
def test_secrets_are_scrubbed(text: str, hidden: str) -> None:
    assert hidden not in logs.scrub(text)


@pytest.mark.parametrize(
    "text",
    [
        "closed auction auc_5f0c2a9b1e7d44c08a31 at 1772366400123456",  # an id, a time in µs
        "charge chg_1 attempt 2: succeeded, 1234.50 EUR",
        "bid 4242424242424241 is not a Luhn number",  # fails the check: not a card
        "request 1d3df5d5397144422286563631875fc8",
    ],
)
def test_what_is_not_a_secret_stays(text: str) -> None:
    assert logs.scrub(text) == text


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("commex.test", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_a_json_line_carries_the_request_id_and_the_fields() -> None:
    f = logs.RequestIdFilter()
    with request_id_bound("req-42"):
        record = _record("card saved for %s", "acc_1", last4="4444", note="token=cx_s3cr3t")
        assert f.filter(record)
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["message"] == "card saved for acc_1"
    assert (line["level"], line["logger"], line["request_id"]) == ("info", "commex.test", "req-42")
    assert line["last4"] == "4444" and "s3cr3t" not in line["note"]
    assert line["ts"].endswith("+00:00")


def test_an_exception_is_logged_scrubbed() -> None:
    try:
        raise RuntimeError("gateway said: card 4242424242424242 refused")
    except RuntimeError:
        record = logging.LogRecord(
            "commex.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    text = logs.JsonFormatter().format(record)
    assert "RuntimeError" in text and "4242424242424242" not in text


def test_configure_sets_commex_to_the_level_and_libraries_to_warning() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # as echo=True does
        logs.configure("text", "debug")
        stream = io.StringIO()
        root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
        with request_id_bound("r-7"):
            logging.getLogger("commex.x").debug("seen password=hunter2hunter2")
            logging.getLogger("sqlalchemy.engine").info("not seen")
        out = stream.getvalue()
        assert "[r-7] seen password=[redacted]" in out and "not seen" not in out
        with pytest.raises(ValueError, match="log level"):
            logs.configure("json", "verbose")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
        for name in (*logs.OWN_LOGGERS, "sqlalchemy.engine"):
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_an_access_line_names_its_request_outside_the_request_context() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logs.configure("json", "info")
        stream = io.StringIO()
        root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
        # the bids' fast path writes its line after the request's context was reset
        log_access(
            "POST", "/v1/auctions/auc_1/bids?token=cx_abcdefghijklmnopqrstuv", 201, 2.26, "r-9"
        )
        line = json.loads(stream.getvalue())
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
        for name in logs.OWN_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
    assert (line["logger"], line["request_id"], line["status"], line["ms"]) == (
        "commex.access", "r-9", 201, 2.3,
    )  # fmt: skip
    assert line["method"] == "POST" and "abcdefghijklmnop" not in stream.getvalue()
    assert line["path"] == "/v1/auctions/auc_1/bids?token=[redacted]"


class _CountingStream(io.StringIO):
    """A stream that counts the writes it was given."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_lines_written_together_go_out_in_one_write_in_their_order() -> None:
    stream = _CountingStream()
    handler = logs.LineHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("commex.test.together")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with logs.lines_together(logger):
            for i in range(5):
                logger.warning("line %d", i)
            assert stream.getvalue() == ""  # nothing out before the block ends
        assert stream.writes == 1
        logger.warning("alone")  # outside the block: written at once
        assert stream.writes == 2
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    lines = [json.loads(text)["message"] for text in stream.getvalue().splitlines()]
    assert lines == ["line 0", "line 1", "line 2", "line 3", "line 4", "alone"]


def test_an_access_line_keeps_the_time_of_its_answer() -> None:
    line = _access_line("/v1/auctions/auc_1/bids", 201, 1.0, "r-1", created=86400.25)
    assert json.loads(line)["ts"] == "1970-01-02T00:00:00.250+00:00"


@pytest.mark.parametrize(
    ("path", "status", "ms", "rid"),
    [
        ("/v1/auctions/auc_1/bids", 201, 2.26, "r-9"),
        ('/v1/auctions/"ü\\\u2028"/bids', 422, 0.04, None),
        ("/v1/auctions/auc_1/bids?token=cx_abcdefghijklmnopqrstuv", 401, 1234.5, "x" * 128),
    ],
)
def test_an_access_line_is_the_json_of_its_fields(
    path: str, status: int, ms: float, rid: str | None
) -> None:
    line = _access_line(path, status, ms, rid, created=1.5)
    message = logs.scrub(f"POST {path} {status} {ms:.1f}ms id={rid}")
    expected = {
        "ts": "1970-01-01T00:00:01.500+00:00",
        "level": "info",
        "logger": "commex.access",
        "message": message,
        **({"request_id": rid} if rid else {}),
        "method": "POST",
        "path": logs.scrub(path),
        "status": status,
        "ms": round(ms, 1),
    }
    assert line == json.dumps(expected, ensure_ascii=False) + "\n"


def _access_line(path: str, status: int, ms: float, rid: str | None, created: float) -> str:
    """What the JSON access log writes for one POST answered at ``created``."""
    stream = io.StringIO()
    handler = logs.LineHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    access = logging.getLogger("commex.access")
    access.addHandler(handler)
    saved = access.level
    access.setLevel(logging.INFO)
    try:
        log_access("POST", path, status, ms, rid, created=created)
    finally:
        access.removeHandler(handler)
        access.setLevel(saved)
    return stream.getvalue()


LINES = [
    ("POST", "/v1/auctions/auc_1/bids", 201, 2.26, "r-9", 1.5),
    ("POST", '/v1/auctions/"ü\\\u2028"/bids', 422, 0.04, None, 86400.9996),
    ("POST", "/v1/auctions/auc_1/bids?token=cx_abcdefghijklmnopqrstuv", 401, 1234.5, "x" * 8, 2.0),
]


def test_a_turn_s_access_lines_are_written_at_once_as_each_record_would_write_them() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logs.configure("json", "info")
        one_by_one, together = _CountingStream(), _CountingStream()
        root.handlers[0].setStream(one_by_one)  # type: ignore[attr-defined]
        with request_id_bound("r-outer"):
            for line in LINES:
                log_access(*line)
            root.handlers[0].setStream(together)  # type: ignore[attr-defined]
            lines = AccessLines()
            lines._lines = list(LINES)
            lines.write()
            assert logs.write_access_lines(logging.getLogger("commex.access"), [])  # at once
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
        for name in logs.OWN_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
    assert together.getvalue() == one_by_one.getvalue()
    assert (together.writes, one_by_one.writes) == (1, 3)
    assert '"request_id": "r-outer"' in together.getvalue()  # the line without one of its own


def test_access_lines_go_through_the_logging_machinery_when_it_was_set_up_otherwise() -> None:
    stream = io.StringIO()
    handler = logs.LineHandler(stream)
    handler.setFormatter(logs.TextFormatter())
    access = logging.getLogger("commex.access")
    access.addHandler(handler)
    access.propagate, access.level = False, logging.INFO
    try:
        assert not logs.write_access_lines(access, [(1.5, "POST / 201", "r", "POST", "/", 201, 1)])
        lines = AccessLines()
        lines._lines = list(LINES[:1])
        lines.write()
    finally:
        access.removeHandler(handler)
        access.propagate, access.level = True, logging.NOTSET
    assert stream.getvalue().endswith("[r-9] POST /v1/auctions/auc_1/bids 201 2.3ms id=r-9\n")


@pytest.mark.parametrize(
    "created",
    [0.0, 1.5, 86400.9994999, 86400.9995, 86400.9999995, 1.0000005, 1_790_000_000.123456,
     1_790_000_000.9999996, 4102444799.999, -1.25],
)  # fmt: skip
def test_an_access_line_s_time_is_the_time_isoformat_writes(created: float) -> None:
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert logs._timestamp(created) == expected
    assert logs._timestamp(created) == expected  # the second's text kept from the first
