"""Log levels: which lines a production process writes by default."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

import pytest
from pymongo.errors import ServerSelectionTimeoutError
from redis.exceptions import ConnectionError as RedisConnectionError

from vitae.app import log_exception
from vitae.logs import SaqPerJobLines, configure_logging, log_level, request_level

if TYPE_CHECKING:
    from litestar.types import Scope


def test_successful_requests_are_debug_refused_info_errors_warning() -> None:
    assert [request_level(s) for s in (200, 202, 304, 401, 404, 429, 500, 503)] == [
        logging.DEBUG,
        logging.DEBUG,
        logging.DEBUG,
        logging.INFO,
        logging.INFO,
        logging.INFO,
        logging.WARNING,
        logging.WARNING,
    ]


def saq_record(level: int, msg: str) -> logging.LogRecord:
    return logging.LogRecord("saq", level, __file__, 1, msg, ("Job<…>",), None)


def test_saq_per_job_lines_are_dropped_unless_debug() -> None:
    saq = logging.getLogger("saq")
    try:
        configure_logging("json", logging.INFO)
        assert not saq.filter(saq_record(logging.INFO, "Finished %s"))
        assert not saq.filter(saq_record(logging.INFO, "Enqueuing %s"))
        assert saq.filter(saq_record(logging.INFO, "Retrying %s"))
        assert saq.filter(saq_record(logging.WARNING, "Finished %s"))
        configure_logging("json", logging.DEBUG)
        assert saq.filter(saq_record(logging.INFO, "Finished %s"))
        assert not [f for f in saq.filters if isinstance(f, SaqPerJobLines)]
    finally:
        configure_logging("json", logging.INFO)


def test_log_level_names() -> None:
    assert log_level(None) == logging.INFO
    assert log_level("debug") == logging.DEBUG
    with pytest.raises(ValueError, match="unknown log level"):
        log_level("loud")


async def test_an_unreachable_backend_is_one_warning_and_a_bug_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    scope = cast("Scope", {"path": "/api/exports"})
    with caplog.at_level(logging.WARNING, logger="vitae"):
        await log_exception(ServerSelectionTimeoutError("no primary"), scope)
        await log_exception(RedisConnectionError("refused"), scope)
        await log_exception(KeyError("bug"), scope)
    down, refused, bug = caplog.records
    assert (down.levelno, down.exc_info) == (logging.WARNING, None)
    assert "ServerSelectionTimeoutError on /api/exports: no primary" in down.getMessage()
    assert (refused.levelno, refused.exc_info) == (logging.WARNING, None)
    assert bug.levelno == logging.ERROR
    assert bug.exc_info is not None
