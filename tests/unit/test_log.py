"""wharf.log: both formatters render the message, the configured fields and the record's fields."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from wharf import log as wharf_log
from wharf.config import parse_config
from wharf.log import (
    ACCESS_LOGGER,
    BATCH_INTERVAL,
    BATCH_LINES,
    LOGGER,
    JsonFormatter,
    TextFormatter,
    access_line,
    configure_logging,
)

ACCESS_FIELDS: dict[str, Any] = {
    "method": "GET",
    "path": "/v2/library/alpine/manifests/latest",
    "status": 200,
    "bytes": 1024,
    "duration_ms": 3.25,
    "remote": "192.0.2.7:51234",
}


@pytest.fixture(autouse=True)
def restore_wharf_loggers() -> Iterator[None]:
    """configure_logging changes process-wide loggers; put them back for the next test."""
    loggers = [logging.getLogger(LOGGER), logging.getLogger(ACCESS_LOGGER)]
    saved = [(lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    yield
    for logger, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def configured(**log: Any) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(parse_config({"storage": {"inmemory": None}, "log": log}).log, stream=stream)
    return stream


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


# --------------------------------------------------------------------------- text


def test_text_line_is_logfmt() -> None:
    stream = configured(fields={"service": "registry"})
    logging.getLogger("wharf.registry").info("blob uploaded", extra={"fields": {"digest": "sha256:abc"}})

    [line] = lines(stream)
    assert re.fullmatch(
        r'time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=info msg="blob uploaded" service=registry'
        r" digest=sha256:abc",
        line,
    )


def test_text_access_line_has_every_field() -> None:
    stream = configured()
    logging.getLogger(ACCESS_LOGGER).info("request", extra={"fields": ACCESS_FIELDS})

    [line] = lines(stream)
    assert line.endswith(
        "level=info msg=request method=GET path=/v2/library/alpine/manifests/latest status=200"
        " bytes=1024 duration_ms=3.25 remote=192.0.2.7:51234"
    )


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("plain", "plain"),
        ("two words", '"two words"'),
        ("", '""'),
        ('say "hi"', r'"say \"hi\""'),
        ("a=b", '"a=b"'),
        ("line\nbreak", r'"line\nbreak"'),
        (True, "true"),
        (None, "null"),
        (7, "7"),
        (["a", "b"], '"[\\"a\\", \\"b\\"]"'),
        ("héllo", "héllo"),
    ],
)
def test_text_values_are_quoted_when_needed(value: Any, rendered: str) -> None:
    stream = configured()
    logging.getLogger(LOGGER).warning("x", extra={"fields": {"v": value}})
    assert lines(stream)[0].endswith(f" v={rendered}")


def test_text_traceback_follows_the_line() -> None:
    stream = configured()
    try:
        raise RuntimeError("disk on fire")
    except RuntimeError:
        logging.getLogger(LOGGER).exception("upload failed")

    first, *rest = lines(stream)
    assert first.endswith('level=error msg="upload failed"')
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "RuntimeError: disk on fire"


# --------------------------------------------------------------------------- json


def test_json_line_has_time_level_msg_and_fields() -> None:
    stream = configured(formatter="json", fields={"service": "registry", "environment": "staging"})
    logging.getLogger("wharf.api").info("manifest put", extra={"fields": {"repository": "library/alpine"}})

    [line] = lines(stream)
    entry = json.loads(line)
    assert list(entry) == ["time", "level", "msg", "service", "environment", "repository"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
    assert entry["level"] == "info"
    assert entry["msg"] == "manifest put"
    assert (entry["service"], entry["environment"], entry["repository"]) == (
        "registry",
        "staging",
        "library/alpine",
    )


@pytest.mark.parametrize("formatter", ["json", "logstash"])
def test_json_access_line_has_every_field(formatter: str) -> None:
    stream = configured(formatter=formatter, fields={"service": "registry"})
    logging.getLogger(ACCESS_LOGGER).info("request", extra={"fields": ACCESS_FIELDS})

    entry = json.loads(lines(stream)[0])
    assert {key: entry[key] for key in ACCESS_FIELDS} == ACCESS_FIELDS
    assert entry["service"] == "registry"


def test_json_traceback_is_in_the_entry() -> None:
    stream = configured(formatter="json")
    try:
        raise RuntimeError("disk on fire")
    except RuntimeError:
        logging.getLogger(LOGGER).exception("upload failed")

    [line] = lines(stream)
    entry = json.loads(line)
    assert entry["level"] == "error"
    assert entry["exception"].endswith("RuntimeError: disk on fire")


class Opaque:
    def __str__(self) -> str:
        return "opaque thing"


def test_json_renders_values_it_cannot_encode_as_strings() -> None:
    stream = configured(formatter="json")
    logging.getLogger(LOGGER).info("x", extra={"fields": {"what": Opaque()}})
    assert json.loads(lines(stream)[0])["what"] == "opaque thing"


def test_text_renders_other_values_with_str() -> None:
    stream = configured()
    logging.getLogger(LOGGER).info("x", extra={"fields": {"what": Opaque()}})
    assert lines(stream)[0].endswith(' what="opaque thing"')


# --------------------------------------------------------------------------- both


@pytest.mark.parametrize("formatter", [TextFormatter, JsonFormatter])
def test_reserved_field_names_are_renamed(formatter: type[logging.Formatter]) -> None:
    record = logging.makeLogRecord({"msg": "real", "levelno": logging.INFO, "fields": {"msg": "field"}})
    rendered = formatter().format(record)
    assert "msg=real" in rendered or '"msg": "real"' in rendered
    assert "fields.msg" in rendered


def test_record_fields_override_configured_ones() -> None:
    stream = configured(formatter="json", fields={"service": "registry"})
    logging.getLogger(LOGGER).info("x", extra={"fields": {"service": "gc"}})
    assert json.loads(lines(stream)[0])["service"] == "gc"


# --------------------------------------------------------------------------- levels and set-up


@pytest.mark.parametrize(
    ("level", "shown"),
    [
        ("debug", ["debug", "info", "warning", "error"]),
        ("info", ["info", "warning", "error"]),
        ("warn", ["warning", "error"]),
        ("error", ["error"]),
    ],
)
def test_level_filters(level: str, shown: list[str]) -> None:
    stream = configured(level=level, formatter="json")
    logger = logging.getLogger("wharf.storage")
    logger.debug("d")
    logger.info("i")
    logger.warning("w")
    logger.error("e")
    assert [json.loads(line)["level"] for line in lines(stream)] == shown


def test_access_log_ignores_level_but_obeys_disabled() -> None:
    stream = configured(level="error")
    logging.getLogger(ACCESS_LOGGER).info("request", extra={"fields": ACCESS_FIELDS})
    assert len(lines(stream)) == 1

    stream = configured(accesslog={"disabled": True})
    logging.getLogger(ACCESS_LOGGER).info("request", extra={"fields": ACCESS_FIELDS})
    logging.getLogger(LOGGER).info("still here")
    assert [line.split("msg=")[1] for line in lines(stream)] == ['"still here"']


def test_reconfiguring_replaces_the_handler() -> None:
    first = configured()
    second = configured()
    logging.getLogger(LOGGER).info("once")
    assert lines(first) == []
    assert len(lines(second)) == 1


def test_other_handlers_and_the_root_logger_are_left_alone() -> None:
    theirs = logging.NullHandler()
    wharf = logging.getLogger(LOGGER)
    wharf.addHandler(theirs)
    root_handlers = logging.getLogger().handlers[:]

    configured()
    configured()

    assert theirs in wharf.handlers
    assert logging.getLogger().handlers == root_handlers


# --------------------------------------------------------------------------- batched (the server's)


def batched() -> tuple[io.StringIO, logging.Handler]:
    stream = io.StringIO()
    configure_logging(parse_config({"storage": {"inmemory": None}}).log, stream=stream, batched=True)
    return stream, logging.getLogger(LOGGER).handlers[-1]


def test_batched_lines_are_written_together_soon_and_in_order() -> None:
    stream, handler = batched()
    log = logging.getLogger(f"{LOGGER}.test")
    try:
        for i in range(50):
            log.info("line %d", i)
        deadline = time.monotonic() + 10 * BATCH_INTERVAL + 5
        while len(lines(stream)) < 50 and time.monotonic() < deadline:
            time.sleep(BATCH_INTERVAL / 4)
        assert [re.search(r'msg="(line \d+)"', line)[1] for line in lines(stream)] == [  # type: ignore[index]
            f"line {i}" for i in range(50)
        ]
    finally:
        handler.close()


def test_a_full_batch_is_written_before_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wharf_log, "BATCH_INTERVAL", 60.0)
    stream, handler = batched()
    log = logging.getLogger(f"{LOGGER}.test")
    try:
        for i in range(BATCH_LINES + 1):  # the first starts the writer, which then waits a minute
            log.info("line %d", i)
        deadline = time.monotonic() + 5
        while len(lines(stream)) < BATCH_LINES and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(lines(stream)) >= BATCH_LINES
    finally:
        handler.close()
    assert len(lines(stream)) == BATCH_LINES + 1


def test_a_warning_is_written_at_once_with_the_lines_before_it() -> None:
    stream, handler = batched()
    log = logging.getLogger(f"{LOGGER}.test")
    try:
        log.info("first")
        log.warning("then this")
        assert [re.search(r'msg=("[^"]*"|\S+)', line)[1] for line in lines(stream)] == [  # type: ignore[index]
            "first",
            '"then this"',
        ]
    finally:
        handler.close()


def test_closing_writes_what_is_gathered() -> None:
    stream, handler = batched()
    logging.getLogger(ACCESS_LOGGER).info("request", extra={"fields": ACCESS_FIELDS})
    handler.close()
    assert len(lines(stream)) == 1
    assert "path=/v2/library/alpine/manifests/latest" in lines(stream)[0]


# --------------------------------------------------------------------------- access_line (one per request)


def without_time(line: str) -> str:
    return re.sub(r"time=\S+ |\"time\": \"[^\"]+\", ", "", line)


@pytest.mark.parametrize("formatter", ["text", "json"])
@pytest.mark.parametrize("batch", [False, True])
def test_access_line_is_the_line_a_record_makes(formatter: str, batch: bool) -> None:
    """The direct path renders exactly what logging would, in both formats and both handlers."""
    stream = io.StringIO()
    log = parse_config(
        {"storage": {"inmemory": None}, "log": {"formatter": formatter, "fields": {"a": "b c"}}}
    )
    configure_logging(log.log, stream=stream, batched=batch)
    access_line(ACCESS_FIELDS)
    logging.getLogger(ACCESS_LOGGER).info("request", extra={"fields": ACCESS_FIELDS})
    logging.getLogger(LOGGER).handlers[-1].flush()
    direct, through_logging = lines(stream)
    assert without_time(direct) == without_time(through_logging)
    assert "msg=request" in direct or '"msg": "request"' in direct


def test_access_line_reaches_handlers_and_filters_added_after_set_up() -> None:
    stream = configured()
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    access = logging.getLogger(ACCESS_LOGGER)
    keep = Keep()
    access.addHandler(keep)
    try:
        access_line(ACCESS_FIELDS)
    finally:
        access.removeHandler(keep)
    assert [r.fields for r in seen] == [ACCESS_FIELDS]  # type: ignore[attr-defined]
    assert len(lines(stream)) == 1  # and the configured handler still wrote it

    def drop_health(record: logging.LogRecord) -> bool:
        return record.fields["path"] != "/debug/health"  # type: ignore[attr-defined, no-any-return]

    access.addFilter(drop_health)
    try:
        access_line({**ACCESS_FIELDS, "path": "/debug/health"})
    finally:
        access.removeFilter(drop_health)
    assert len(lines(stream)) == 1


def test_access_line_obeys_disabled() -> None:
    stream = configured(accesslog={"disabled": True})
    access_line(ACCESS_FIELDS)
    assert lines(stream) == []
