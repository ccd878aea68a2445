"""Logging set-up from ``log`` in the configuration, with lines shaped like distribution's.

distribution logs through logrus, so its ``text`` lines are logfmt
(``time=... level=info msg="..." key=value``) and its ``json`` lines are one object
each. wharf writes the same two shapes. Structured values travel on the record
under one name, ``fields``::

    logger.info("blob uploaded", extra={"fields": {"repository": name, "digest": str(digest)}})

Every line also carries the ``log.fields`` of the configuration (``service: registry``).
Only the ``wharf`` logger hierarchy is configured; the root logger and its handlers
are left to whoever embeds wharf.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import sys
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, TextIO

from wharf.config import LogConfig

__all__ = [
    "ACCESS_LOGGER",
    "BATCH_INTERVAL",
    "LOGGER",
    "SERVER_LOGGER",
    "JsonFormatter",
    "TextFormatter",
    "access_line",
    "configure_logging",
]

#: The root of wharf's loggers: modules log to ``logging.getLogger(__name__)`` under it.
LOGGER: Final = "wharf"
#: One INFO record per request, with ``fields``: method, path, status, bytes, duration_ms, remote.
ACCESS_LOGGER: Final = "wharf.access"
#: the HTTP server's own logger (granian names it so)
SERVER_LOGGER: Final = "_granian"

_LEVELS: Final[Mapping[str, int]] = MappingProxyType(
    {"error": logging.ERROR, "warn": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG}
)
# logrus's names, so that tools parsing distribution's logs read ours.
_LEVEL_NAMES: Final[Mapping[int, str]] = MappingProxyType(
    {
        logging.DEBUG: "debug",
        logging.INFO: "info",
        logging.WARNING: "warning",
        logging.ERROR: "error",
        logging.CRITICAL: "fatal",
    }
)
# The keys every line starts with; a field of the same name is renamed, as logrus does.
_RESERVED: Final = frozenset({"time", "level", "msg"})


class _Formatter(logging.Formatter):
    """Turns a record into an ordered entry: time, level, msg, configured fields, the record's fields."""

    def __init__(self, *, fields: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self._fields = dict(fields or {})
        # Every line carries them: logfmt them once.
        self._fields_logfmt = " ".join(f"{_key(str(k))}={_logfmt(v)}" for k, v in self._fields.items())

    def format(self, record: logging.LogRecord) -> str:
        record_fields = getattr(record, "fields", None)
        extra: Mapping[str, Any] = record_fields if isinstance(record_fields, Mapping) else {}
        return self.render(record.created, record.levelno, record.getMessage(), extra, self.trace(record))

    def render(
        self, created: float, level: int, message: str, extra: Mapping[str, Any], trace: str = ""
    ) -> str:
        """One line (and a traceback) from a record's parts: what ``access_line`` calls directly."""
        raise NotImplementedError

    def entry(self, created: float, level: int, message: str, extra: Mapping[str, Any]) -> dict[str, Any]:
        entry: dict[str, Any] = {"time": _timestamp(created), "level": _level_name(level), "msg": message}
        for key, value in [*self._fields.items(), *extra.items()]:
            entry[_key(str(key))] = value
        return entry

    def trace(self, record: logging.LogRecord) -> str:
        """The exception and stack attached to the record, if any."""
        parts = []
        if record.exc_info:
            parts.append(self.formatException(record.exc_info))
        if record.stack_info:
            parts.append(self.formatStack(record.stack_info))
        return "\n".join(parts)


class TextFormatter(_Formatter):
    """logfmt lines: ``time=2024-05-01T12:00:00.000Z level=info msg="request" method=GET``.

    A traceback follows its line as is: this format is for people reading a terminal.
    """

    def render(
        self, created: float, level: int, message: str, extra: Mapping[str, Any], trace: str = ""
    ) -> str:
        line = self._line(created, level, message, extra)
        return f"{line}\n{trace}" if trace else line

    def _line(self, created: float, level: int, message: str, extra: Mapping[str, Any]) -> str:
        if not self._fields.keys().isdisjoint(extra):
            # A record's field replaces a configured one in place: the general path.
            entry = self.entry(created, level, message, extra)
            return " ".join(f"{key}={_logfmt(value)}" for key, value in entry.items())
        # The common path, for an access line per request: the configured fields are ready.
        parts = [f"time={_timestamp(created)} level={_level_name(level)} msg={_logfmt(message)}"]
        if self._fields_logfmt:
            parts.append(self._fields_logfmt)
        for key, value in extra.items():
            # Inline for the access line's plain values: a call per field showed in its cost.
            kind = type(value)
            if kind is int:
                text = str(value)
            elif kind is str and not _needs_quotes(value):
                text = value
            else:
                text = _logfmt(value)
            name = key if type(key) is str and key not in _RESERVED else _key(str(key))
            parts.append(f"{name}={text}")
        return " ".join(parts)


class JsonFormatter(_Formatter):
    """One JSON object per line; a traceback goes in its ``exception`` key."""

    def render(
        self, created: float, level: int, message: str, extra: Mapping[str, Any], trace: str = ""
    ) -> str:
        entry = self.entry(created, level, message, extra)
        if trace:
            entry["exception"] = trace
        return json.dumps(entry, default=str, ensure_ascii=False)


def access_line(fields: Mapping[str, Any]) -> None:
    """Log one request: an INFO record "request" with ``fields`` on ``ACCESS_LOGGER``.

    This runs once per request, and a record through ``logging`` cost as much as the
    rest of a small request. So while the loggers are as ``configure_logging`` left
    them (its handler alone on ``wharf``, no filters, nothing propagating), the line is
    rendered straight from ``fields`` and handed to that handler; otherwise it goes
    through ``logging`` like any record, and whatever was added sees it.
    """
    if not _access.isEnabledFor(logging.INFO):
        return
    handler = _direct
    if handler is not None and _as_configured(handler):
        formatter = handler.formatter
        assert isinstance(formatter, _Formatter)
        handler.write_line(formatter.render(time.time(), logging.INFO, "request", fields))
        return
    record = _access.makeRecord(ACCESS_LOGGER, logging.INFO, __file__, 0, "request", (), None)
    record.fields = fields
    _access.handle(record)


def _as_configured(handler: _Handler) -> bool:
    return (
        not _access.handlers
        and not _access.filters
        and _access.propagate
        and _wharf.handlers == [handler]
        and not _wharf.filters
        and not _wharf.propagate
        and not handler.filters
        and handler.level <= logging.INFO
    )


_access = logging.getLogger(ACCESS_LOGGER)
_wharf = logging.getLogger(LOGGER)
#: the handler the last ``configure_logging`` installed, for ``access_line``
_direct: _Handler | None = None


def configure_logging(config: LogConfig, *, stream: TextIO | None = None, batched: bool = False) -> None:
    """Send the ``wharf`` loggers to ``stream`` (standard error by default) as ``config`` says.

    With ``batched`` (the server), lines below WARNING are written out together at
    most ``BATCH_INTERVAL`` seconds after they are logged; a WARNING or worse goes out
    at once, with every line before it. Calling it again replaces what the previous
    call set up.
    """
    target = sys.stderr if stream is None else stream
    handler = _BatchedHandler(target) if batched else _Handler(target)
    handler.setFormatter(_formatter(config))
    # The server's own lines ("listening at", worker restarts) come from granian's
    # logger: format them like ours, so a json log stays all json.
    for name in (LOGGER, SERVER_LOGGER):
        logger = logging.getLogger(name)
        # Replace our previous handler; on granian's logger, its own console handler too.
        for previous in [h for h in logger.handlers if isinstance(h, _Handler) or name == SERVER_LOGGER]:
            logger.removeHandler(previous)
            if isinstance(previous, _Handler):
                previous.close()
        logger.addHandler(handler)
        # wharf's lines are complete as written here; passing them on to the root
        # logger's handlers would print them twice.
        logger.propagate = False
    global _direct
    _direct = handler
    logging.getLogger(LOGGER).setLevel(_LEVELS[config.level])
    logging.getLogger(SERVER_LOGGER).setLevel(max(_LEVELS[config.level], logging.INFO))
    # As in distribution, the access log follows its own switch, not log.level.
    access = logging.getLogger(ACCESS_LOGGER)
    access.setLevel(logging.CRITICAL + 1 if config.accesslog.disabled else logging.INFO)


class _Handler(logging.StreamHandler[TextIO]):
    """The handler ``configure_logging`` installs, told apart from anyone else's so it can be replaced."""

    def write_line(self, line: str) -> None:
        """Write a line rendered without a record (``access_line``)."""
        with self.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            try:
                self.stream.write(line + self.terminator)
                self.flush()
            except Exception:
                self.handleError(None)  # type: ignore[arg-type]  # no record: a line is all there was


#: seconds a line below WARNING may wait in a ``_BatchedHandler`` before it is written
BATCH_INTERVAL: Final = 0.2
#: lines that make a batch be written before its time: 20,000 requests a second gathered about
#: 800 KB of lines in 0.2 s, held twice more while joined and encoded (a MiB of a small-request
#: peak of 43, issue 5's memory target)
BATCH_LINES: Final = 256


class _BatchedHandler(_Handler):
    """Gathers lines and writes them in one system call every ``BATCH_INTERVAL`` seconds,
    or as soon as ``BATCH_LINES`` are waiting, from a thread of its own.

    The server logs a line per request: writing each with its own ``write`` (and
    flush) cost a tenth of a small request's time here. Lines keep their order:
    everything is written under the handler's lock. A WARNING or worse flushes at
    once; a process killed outright loses at most the last ``BATCH_INTERVAL`` of
    lines below it.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._closed = False
        self._due = threading.Event()  # set when a batch is full, or the handler closes
        self._writer: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._pending.append(self.format(record) + self.terminator)
            if record.levelno >= logging.WARNING:
                self._write_pending()
            elif self._writer is None:
                self._start_writer()
            elif len(self._pending) == BATCH_LINES:
                self._due.set()
        except Exception:
            self.handleError(record)

    def _start_writer(self) -> None:
        self._writer = threading.Thread(target=self._write_periodically, name="wharf-log", daemon=True)
        self._writer.start()

    def write_line(self, line: str) -> None:
        with self.lock:  # type: ignore[union-attr]  # the writer thread swaps the list under it
            self._pending.append(line + self.terminator)
            if self._writer is None:
                self._start_writer()
            elif len(self._pending) == BATCH_LINES:
                self._due.set()

    def flush(self) -> None:
        self.acquire()
        try:
            self._write_pending()
        finally:
            self.release()

    def close(self) -> None:
        self._closed = True
        self._due.set()
        self.flush()
        super().close()

    def _write_periodically(self) -> None:
        while True:
            self._due.wait(BATCH_INTERVAL)
            self._due.clear()
            if self._closed:
                return
            try:
                self.flush()
            except Exception:  # a closed or broken stream: nothing more can be written
                return

    def _write_pending(self) -> None:
        """Write what is gathered; the caller holds the lock."""
        if self._pending and not getattr(self.stream, "closed", False):
            text, self._pending = "".join(self._pending), []
            self.stream.write(text)
            self.stream.flush()


def _formatter(config: LogConfig) -> _Formatter:
    # logrus's logstash format is JSON with other key names; wharf writes plain JSON for both.
    if config.formatter in ("json", "logstash"):
        return JsonFormatter(fields=config.fields)
    return TextFormatter(fields=config.fields)


def _key(name: str) -> str:
    """A field's key on the line; one named like a key every line starts with is renamed, as logrus does."""
    return f"fields.{name}" if name in _RESERVED else name


def _level_name(level: int) -> str:
    return _LEVEL_NAMES.get(level) or logging.getLevelName(level).lower()


def _timestamp(created: float) -> str:
    # Access lines come thousands a second: format the second once, then add the milliseconds.
    second = int(created)
    millis = int((created - second) * 1000)
    return f"{_second(second)}.{millis:03d}Z"


@functools.lru_cache(maxsize=4)
def _second(second: int) -> str:
    return datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _logfmt(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, bool):
        return "null" if value is None else "true" if value else "false"  # as JSON spells them
    elif type(value) is int:
        return str(value)  # the common cases (status, bytes, duration), without json.dumps's machinery
    elif type(value) is float and math.isfinite(value):
        return repr(value)
    elif isinstance(value, int | float | list | dict):
        text = json.dumps(value, default=str, ensure_ascii=False)  # 1.5, [1, 2], NaN: as JSON spells them
    else:
        text = str(value)
    return json.dumps(text, ensure_ascii=False) if _needs_quotes(text) else text


def _needs_quotes(text: str) -> bool:
    """Empty, or with a space, a quote, ``=``, a backslash or a character that does not print.

    (Scans in C: a regular expression here was a tenth of the access line's cost.)
    """
    return (
        not text
        or not text.isprintable()
        or " " in text
        or '"' in text
        or "=" in text
        or "\\" in text
    )
