"""Log levels: which lines a production process writes by default."""

from __future__ import annotations

import logging

import pytest

from vitae.logs import SaqPerJobLines, configure_logging, log_level, request_level


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
