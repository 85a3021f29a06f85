# ruff: noqa: INP001  (a script run by bench/sse.py, not a package)
"""The publish clock of the SSE benchmark: a raw Redis pub/sub client, in a process of its own,
that prints when each export event reached it.

    python bench/publish_clock.py REDIS_URL

It pattern-subscribes to every Vitae channel and prints ``ready`` once subscribed, then one line
per event, the first time that event is seen on any channel (each is published on the
export's channel and on its owner's)::

    <monotonic ns> <export id> <user id> <kind> <version> <stage or status>

A blocking read in its own process wakes as soon as Valkey writes, whatever the benchmark's
event loop is doing, and ``time.monotonic_ns`` is one clock for every process on the machine,
so its stamps can be compared with the benchmark's receipt times.
"""

from __future__ import annotations

import json
import signal
import sys
import time

import redis


def describe(data: bytes) -> tuple[str, str]:
    """The event's key (as bench/sse.py builds it from a stream) and the export's owner."""
    event = json.loads(data)
    export = event["export"]
    stage = event.get("stage") or export["status"]
    key = f"{export['id']}|{event['kind']}|{export['version']}|{stage}"
    return key, export["user_id"]


def main() -> None:
    """Print events until the benchmark stops this process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the benchmark stops it, after its streams
    pubsub = redis.Redis.from_url(sys.argv[1]).pubsub()
    pubsub.psubscribe("vitae:*")
    seen: set[str] = set()
    for message in pubsub.listen():
        at = time.monotonic_ns()
        if message["type"] == "psubscribe":
            sys.stdout.write("ready\n")
        elif message["type"] == "pmessage" and isinstance(message["data"], bytes):
            key, user = describe(message["data"])
            if key in seen:
                continue
            seen.add(key)
            export, kind, version, stage = key.split("|")
            sys.stdout.write(f"{at} {export} {user} {kind} {version} {stage}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
