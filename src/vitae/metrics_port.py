"""Prometheus metrics on a port of their own, where only operators look.

The API's public port serves no ``/metrics``: counters and route timings tell an outsider
how the service is used. A process that sets a metrics port serves its registry there.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from prometheus_client import start_http_server

if TYPE_CHECKING:
    from collections.abc import Generator

log = logging.getLogger("vitae")


@contextlib.contextmanager
def metrics_server(host: str, port: int) -> Generator[None]:
    """Serve the process's metrics on ``host:port`` while the block runs; port 0 serves none."""
    if not port:
        yield
        return
    server, thread = start_http_server(port, addr=host)
    log.info("metrics at http://%s:%d/metrics", host, port)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
