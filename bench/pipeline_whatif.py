# ruff: noqa: INP001  (a script run by bench/pipeline.py --whatif, not a package)
"""What-if experiments: ``vitae api`` or ``vitae worker`` with one or more proposed changes
applied as patches at process start, so that their gain is measured before anyone edits
src/. Nothing in the checkout changes; the patches live only in the benchmark's processes.

    BENCH_PATCHES=uvloop,user-cache python bench/pipeline_whatif.py api|worker

Each patch is the smallest runtime stand-in for a change proposed in docs/benchmarks.md:

- ``uvloop``: the worker's event loop on uvloop (the API already runs on it through uvicorn).
- ``quiet-logs``: the request log (``vitae.http``) and SAQ's job lines at WARNING: no INFO
  line per request or per job.
- ``user-cache``: the authenticated user read from MongoDB at most every 10 s per user,
  for bearer and stream tokens alike (one ``aggregate`` fewer per request).
- ``no-progress``: no ``progress`` events (two events, four PUBLISHes fewer per export).
- ``token-reuse``: one stream token per export instead of one per response and SSE message.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

USER_TTL = 10.0
QUIET = ("vitae.http", "saq")  # one line per request; two per job (processing, finished)


def _uvloop() -> None:
    import uvloop  # noqa: PLC0415

    uvloop.install()


def _quiet_logs() -> None:
    from vitae import cli  # noqa: PLC0415

    original = cli.configure_logging

    def configure_logging(*args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        original(*args, **kwargs)
        for name in QUIET:
            logging.getLogger(name).setLevel(logging.WARNING)

    cli.configure_logging = configure_logging


def _user_cache() -> None:
    from vitae.users import auth  # noqa: PLC0415

    original = auth.load_user
    cache: dict[str, tuple[float, Any]] = {}

    async def load_user(engine: Any, token: Any) -> Any:  # noqa: ANN401  (stands in for the original)
        hit = cache.get(token.sub)
        if hit is not None and time.monotonic() - hit[0] < USER_TTL:
            auth.bind_user(token.sub)
            return hit[1]
        user = await original(engine, token)
        cache[token.sub] = (time.monotonic(), user)
        return user

    auth.load_user = load_user


def _no_progress() -> None:
    from vitae.exports.service import ExportService  # noqa: PLC0415

    async def progress(_self: object, *_args: object) -> None:
        return None

    ExportService.progress = progress  # type: ignore[method-assign]


def _token_reuse() -> None:
    from vitae.exports import controller, views  # noqa: PLC0415

    original = views.events_url
    urls: dict[str, str] = {}

    def events_url(export: Any, settings: Any) -> str:  # noqa: ANN401
        key = str(export.id)
        if key not in urls:
            urls[key] = original(export, settings)
        return urls[key]

    views.events_url = events_url
    controller.events_url = events_url


PATCHES: dict[str, Callable[[], None]] = {
    "uvloop": _uvloop,
    "quiet-logs": _quiet_logs,
    "user-cache": _user_cache,
    "no-progress": _no_progress,
    "token-reuse": _token_reuse,
}


def main() -> None:
    """Apply the patches named in ``BENCH_PATCHES``, then run ``vitae`` with the arguments."""
    for name in filter(None, os.environ.get("BENCH_PATCHES", "").split(",")):
        PATCHES[name]()
    from vitae.cli import main as vitae  # noqa: PLC0415

    sys.exit(vitae(sys.argv[1:]))


if __name__ == "__main__":
    main()
