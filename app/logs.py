"""Log lines: plain text, or one JSON object per line (``REDRAIN_LOG_FORMAT``),
each carrying the id of the request it was written for.

Every answer carries ``X-Request-Id`` (``app.http.middleware``): the caller's
own, when it sent a sane one (a gateway's), else one made here. The id sits
in a context variable for as long as the request is served, so any line
logged on its behalf carries it; with ``REDRAIN_ACCESS_LOG`` one line per
answer also names the route, status, time taken and a draw's ids, which is
how a player's complaint ("I tapped at 20:00:03 and got nothing") is traced
from the id their app shows to the ``draw_id`` in the ledger
(docs/operations.md, "Logs").

The same configuration serves the CLI's processes and uvicorn's (its
``log_config``), so every ``serve`` worker process logs alike.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import logging
import logging.config
import os
import re
import select
import sys
import time
from contextvars import ContextVar
from typing import IO, Any

import orjson

REQUEST_ID: ContextVar[str | None] = ContextVar("redrain_request_id", default=None)
# What a caller may name its request: a gateway's id passes through unchanged.
_SANE = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
# Ids made here: a random prefix per process, then a counter. Unique across
# a fleet without a system call per request (os.urandom is one).
_PREFIX = os.urandom(6).hex()
_COUNT = itertools.count(1)
ACCESS = "redrain.access"  # the one-line-per-answer log's name (AccessLog)
TEXT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s%(request_tag)s"
JSON_FIELDS = "%(levelname)s %(name)s %(message)s"


def request_id(sent: bytes | None) -> str:
    """The caller's id when it is sane, else a new one."""
    if sent is not None and _SANE.fullmatch(sent):
        return sent.decode()
    return f"{_PREFIX}-{next(_COUNT):x}"


class RequestTag(logging.Filter):
    """Adds ``request_id`` (None outside a request) to every record, and
    ``request_tag`` for the text format (`` [request <id>]`` or nothing)."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = getattr(record, "request_id", None) or REQUEST_ID.get()
        record.request_id = rid
        record.request_tag = f" [request {rid}]" if rid else ""
        return True


def formatter(fmt: str) -> logging.Formatter:
    """``text`` (for a terminal or journald) or ``json`` (one object a line)."""
    if fmt != "json":
        return logging.Formatter(TEXT)
    from pythonjsonlogger.core import RESERVED_ATTRS
    from pythonjsonlogger.orjson import OrjsonFormatter

    return OrjsonFormatter(
        JSON_FIELDS,
        timestamp="time",  # ISO 8601, UTC, with milliseconds
        rename_fields={"levelname": "level", "name": "logger"},
        # The text format's tag is for humans; JSON has request_id itself.
        reserved_attrs=[*RESERVED_ATTRS, "request_tag", "color_message"],
    )


def handler(fmt: str, stream: IO[str] | None = None) -> logging.Handler:
    """The one handler every line goes through (stderr unless ``stream``)."""
    out = logging.StreamHandler(stream or sys.stderr)
    out.setFormatter(formatter(fmt))
    out.addFilter(RequestTag())
    return out


def config(level: str, fmt: str) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for ``fmt`` (``text`` or ``json``):
    one handler on the root logger, uvicorn's loggers sent to it."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"redrain": {"()": "app.logs.handler", "fmt": fmt}},
        "root": {"level": level.upper(), "handlers": ["redrain"]},
        "loggers": {
            name: {"level": level.upper(), "handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def configure(level: str, fmt: str) -> None:
    logging.config.dictConfig(config(level, fmt))


class AccessLog:
    """The access log's lines (logger ``redrain.access``), written past
    :mod:`logging`: a line through logging and python-json-logger cost
    24-100 µs, about as much as the draw it describes; this writes the same
    object for ~7 µs (docs/performance.md, "Issue 28"). Lines are gathered and
    written every ``FLUSH_EVERY`` seconds (and at exit), whole lines per
    ``write()`` of at most ``PIPE_BUF`` bytes, so the lines of the worker
    processes sharing one stderr never interleave mid-line."""

    FLUSH_EVERY = 0.2
    MAX_HELD = 512  # lines; past it they are written at once

    def __init__(self, fmt: str, fd: int | None = None) -> None:
        self.json = fmt == "json"
        self.fd = sys.stderr.fileno() if fd is None else fd
        self.held: list[bytes] = []
        self.scheduled = False
        self._second = -1
        self._iso = self._local = ""
        atexit.register(self.flush)

    def write(self, message: str, fields: dict[str, Any]) -> None:
        now = time.time()
        second = int(now)
        if second != self._second:  # the date and time to the second: formatted once a second
            self._second = second
            self._iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._local = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        if self.json:
            # As python-json-logger writes "time": ISO 8601, UTC, microseconds.
            stamp = f"{self._iso}.{int((now - second) * 1e6):06d}+00:00"
            head = {"time": stamp, "level": "INFO", "logger": ACCESS, "message": message}
            line = orjson.dumps(head | fields, option=orjson.OPT_APPEND_NEWLINE)
        else:
            # As logging's text lines: local time, milliseconds, the request last.
            extra = " ".join(f"{k}={_plain(v)}" for k, v in fields.items() if k != "request_id")
            stamp = f"{self._local},{int((now - second) * 1000):03d}"
            rid = fields.get("request_id")
            line = f"{stamp} INFO    {ACCESS}: {message} {extra} [request {rid}]\n".encode()
        self.held.append(line)
        if len(self.held) >= self.MAX_HELD:
            self.flush()
        elif not self.scheduled:
            self.scheduled = True
            try:
                asyncio.get_running_loop().call_later(self.FLUSH_EVERY, self.flush)
            except RuntimeError:  # no event loop: write now
                self.flush()

    def flush(self) -> None:
        self.scheduled = False
        held, self.held = self.held, []
        chunks, chunk = [], b""
        for line in held:
            if chunk and len(chunk) + len(line) > select.PIPE_BUF:
                chunks.append(chunk)
                chunk = b""
            chunk += line
        chunks += [chunk] if chunk else []
        try:
            for chunk in chunks:
                _write_all(self.fd, chunk)
        except OSError:  # stderr is gone: there is nowhere left to say so
            pass


def _plain(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
