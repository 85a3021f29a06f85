"""Live export status over Server-Sent Events, on real Redis pub/sub and a real worker."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
from redis.asyncio import Redis
from saq import Worker

from support import (
    Headers,
    MakeUser,
    Services,
    create_resume,
    make_settings,
    running_api,
    running_worker,
    sse_events,
    wait_for_export,
    wait_for_subscribers,
    wait_until,
)
from vitae.settings import Settings


async def new_export(
    client: httpx.AsyncClient, headers: Headers, name: str = "Live"
) -> dict[str, Any]:
    resume = await create_resume(
        client, headers, {"basics": {"name": name}, "work": [{"position": "Engineer"}]}
    )
    response = await client.post("/api/exports", json={"resumeId": resume["id"]}, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()


async def events_channel(client: httpx.AsyncClient, headers: Headers) -> str:
    """The Redis channel of the user's export events (one export's stream follows it too)."""
    me = (await client.get("/api/users/me", headers=headers)).json()
    return f"vitae:users:{me['id']}:exports"


async def follow(
    client: httpx.AsyncClient, settings: Settings, headers: Headers, export: dict[str, Any]
) -> asyncio.Task[list[dict[str, Any]]]:
    """Open the export's stream; return once the API has subscribed for it."""
    stream = asyncio.create_task(collect(client, export["eventsUrl"]))
    assert settings.redis_url
    await wait_for_subscribers(settings.redis_url, await events_channel(client, headers))
    return stream


async def collect(
    client: httpx.AsyncClient, url: str, headers: Headers | None = None, limit: float = 30
) -> list[dict[str, Any]]:
    """Read a stream until the server ends it."""
    async with asyncio.timeout(limit), client.stream("GET", url, headers=headers or {}) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        return [event async for event in sse_events(response)]


async def test_an_export_followed_live_to_its_end(
    idle_client: httpx.AsyncClient, idle_settings: Settings, make_user: MakeUser
) -> None:
    headers = await make_user()
    created = await new_export(idle_client, headers)
    # The stream opens while the export is pending; the worker starts only afterwards.
    stream = await follow(idle_client, idle_settings, headers, created)
    async with running_worker(idle_settings):
        events = await stream
    kinds = [
        (e["event"], json.loads(e["data"]).get("stage") or json.loads(e["data"])["status"])
        for e in events
    ]
    assert kinds == [
        ("status", "pending"),
        ("status", "processing"),
        ("progress", "rendering"),
        ("progress", "storing"),
        ("status", "completed"),
    ]
    ids = [int(e["id"]) for e in events]
    assert ids == [1, 2, 2, 2, 3]
    assert all(e["retry"] == "2000" for e in events)
    final = json.loads(events[-1]["data"])
    polled = (await idle_client.get(created["statusUrl"], headers=headers)).json()
    # The stream and the poll agree on the final state.
    for field in ("id", "status", "version", "fileSize", "completedAt", "attempts", "watermarked"):
        assert final[field] == polled[field], field
    assert final["fileUrl"].startswith(str(idle_client.base_url))
    assert [json.loads(e["data"])["progress"] for e in events if e["event"] == "progress"] == [
        10,
        70,
    ]


async def test_one_exports_stream_carries_none_of_the_users_other_exports(
    idle_client: httpx.AsyncClient, idle_settings: Settings, make_user: MakeUser
) -> None:
    # Both exports' events travel on their owner's one channel; the stream keeps its own.
    headers = await make_user()
    followed = await new_export(idle_client, headers, "Followed")
    other = await new_export(idle_client, headers, "Other")
    stream = await follow(idle_client, idle_settings, headers, followed)
    for export in (other, followed):
        cancelled = await idle_client.delete(export["statusUrl"], headers=headers)
        assert cancelled.status_code == 200, cancelled.text
    events = await stream
    seen = [(json.loads(e["data"])["id"], json.loads(e["data"])["status"]) for e in events]
    assert seen == [(followed["exportId"], "pending"), (followed["exportId"], "cancelled")]


async def test_a_fast_export_has_no_progress_events(
    idle_client: httpx.AsyncClient, idle_settings: Settings, make_user: MakeUser
) -> None:
    headers = await make_user()
    created = await new_export(idle_client, headers, "Quick")
    stream = await follow(idle_client, idle_settings, headers, created)
    patient = dataclasses.replace(
        idle_settings, jobs=dataclasses.replace(idle_settings.jobs, progress_after=60)
    )
    async with running_worker(patient):
        events = await stream
    assert [(e["event"], json.loads(e["data"])["status"]) for e in events] == [
        ("status", "pending"),
        ("status", "processing"),
        ("status", "completed"),
    ]


async def test_last_event_id_resumes_without_repeats(
    client: httpx.AsyncClient, make_user: MakeUser, worker: Worker[Any]
) -> None:
    headers = await make_user()
    created = await new_export(client, headers)
    await wait_for_export(client, headers, created["exportId"])
    url = f"{created['statusUrl']}/events"
    everything = await collect(client, url, headers)
    assert [e["id"] for e in everything] == ["3"]  # a late subscriber gets the current state
    resumed = await collect(client, url, {**headers, "Last-Event-ID": "2"})
    assert [(e["id"], json.loads(e["data"])["status"]) for e in resumed] == [("3", "completed")]
    up_to_date = await collect(client, url, {**headers, "Last-Event-ID": "3"})
    assert up_to_date == []


async def test_stream_token_is_valid_for_its_stream_only(
    idle_client: httpx.AsyncClient, idle_settings: Settings, make_user: MakeUser
) -> None:
    headers = await make_user()
    first = await new_export(idle_client, headers, "First")
    second = await new_export(idle_client, headers, "Second")
    token = first["eventsUrl"].split("token=", 1)[1]

    elsewhere = await idle_client.get(f"{second['statusUrl']}/events?token={token}")
    assert elsewhere.status_code == 401
    assert elsewhere.json()["detail"] == "the stream token is not valid for this stream"
    as_bearer = await idle_client.get(
        first["statusUrl"], headers={"Authorization": f"Bearer {token}"}
    )
    assert as_bearer.status_code == 401
    assert as_bearer.json()["detail"] == "a stream token is valid only for its event stream"
    payload = jwt.decode(token, options={"verify_signature": False})
    payload["exp"] = int((datetime.now(UTC) - timedelta(seconds=1)).timestamp())
    assert idle_settings.jwt_secret
    expired = jwt.encode(payload, idle_settings.jwt_secret, algorithm="HS256")
    late = await idle_client.get(f"{first['statusUrl']}/events?token={expired}")
    assert late.status_code == 401
    assert late.json()["detail"] == "the bearer token has expired"
    bearer_only = await idle_client.get(
        f"{first['statusUrl']}/events?token={headers['Authorization'][7:]}"
    )
    assert bearer_only.status_code == 401
    missing = await idle_client.get(f"{first['statusUrl']}/events")
    assert missing.status_code == 401
    stranger = await idle_client.get(f"{first['statusUrl']}/events", headers=await make_user())
    assert stranger.status_code == 404


async def test_heartbeats_while_idle_and_no_subscription_left_behind(
    services: Services, data_dir: Path, make_user: MakeUser
) -> None:
    settings = make_settings(
        services, data_dir, VITAE_QUEUE_NAME="quiet", VITAE_SSE_HEARTBEAT="0.2"
    )
    headers = await make_user()
    redis = Redis.from_url(services.redis.url)
    async with running_api(settings) as client:
        created = await new_export(client, headers)
        channel = await events_channel(client, headers)
        comments = 0
        numsub: list[tuple[bytes | str, int]] = []
        async with client.stream("GET", created["eventsUrl"]) as response:
            async for event in sse_events(response):
                comments += "comment" in event
                if comments == 3:
                    numsub = await redis.pubsub_numsub(channel)
                    break
        assert numsub == [(channel.encode(), 1)]
        # The client went away: the replica drops its subscription.

        async def unsubscribed() -> bool:
            return dict(await redis.pubsub_numsub(channel))[channel.encode()] == 0

        await wait_until(unsubscribed, "subscription left behind")
    await redis.aclose()


async def test_refused_streams_leave_no_subscription_behind(
    services: Services, data_dir: Path, make_user: MakeUser
) -> None:
    settings = make_settings(
        services, data_dir, VITAE_QUEUE_NAME="quiet", VITAE_STREAMS_PER_USER="1"
    )
    owner, other = await make_user(), await make_user()
    redis = Redis.from_url(services.redis.url)
    async with running_api(settings) as client:
        created = await new_export(client, owner)
        await new_export(client, other)
        channels = [await events_channel(client, h) for h in (owner, other)]
        url = f"/api/exports/{created['exportId']}/events"
        unknown = await client.get(f"/api/exports/{'0' * 24}/events", headers=owner)
        foreign = await client.get(url, headers=other)
        async with client.stream("GET", url, headers=owner) as held:
            assert held.status_code == 200
            over_limit = await client.get(url, headers=owner)
        assert [r.status_code for r in (unknown, foreign, over_limit)] == [404, 404, 429]

        async def unsubscribed() -> bool:
            counts = dict(await redis.pubsub_numsub(*channels))
            return all(counts[c.encode()] == 0 for c in channels)

        await wait_until(unsubscribed, "a refused stream left its subscription behind")
    await redis.aclose()


async def test_dashboard_stream_sees_every_export_of_the_user(
    idle_client: httpx.AsyncClient, idle_settings: Settings, make_user: MakeUser
) -> None:
    headers = await make_user()
    other = await make_user()
    me = (await idle_client.get("/api/users/me", headers=headers)).json()
    waiting = await new_export(idle_client, headers, "Waiting")
    seen: list[tuple[str, str]] = []

    async def watch() -> None:
        async with idle_client.stream("GET", me["eventsUrl"]) as response:
            async for event in sse_events(response):
                data = json.loads(event["data"])
                seen.append((data["id"], data["status"]))
                if sum(status == "completed" for _, status in seen) == 2:
                    return

    watcher = asyncio.create_task(watch())
    assert idle_settings.redis_url
    await wait_for_subscribers(idle_settings.redis_url, f"vitae:users:{me['id']}:exports")
    later = await new_export(idle_client, headers, "Later")
    await new_export(idle_client, other, "Not mine")
    async with running_worker(idle_settings), asyncio.timeout(30):
        await watcher
    assert seen[0] == (waiting["exportId"], "pending")
    mine = {waiting["exportId"], later["exportId"]}
    assert {export_id for export_id, _ in seen} == mine
    assert (later["exportId"], "completed") in seen
