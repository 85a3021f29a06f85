"""What operators rely on: readiness, metrics, retention and the queue view."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from saq import Worker

from support import (
    MakeUser,
    Services,
    create_resume,
    create_user_token,
    env_for,
    make_settings,
    process_environ,
    running_api,
    start_api,
    start_worker,
    wait_for_export,
)
from vitae.embedded import free_port
from vitae.settings import Settings


async def test_ready_names_each_dependency(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ready",
        "checks": {"mongodb": "ok", "redis": "ok", "storage": "ok"},
    }


async def test_ready_is_503_when_redis_is_down(services: Services, data_dir: Path) -> None:
    settings = make_settings(
        services, data_dir, VITAE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"
    )
    async with running_api(settings) as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["mongodb"] == "ok"
    assert body["checks"]["redis"].startswith("ConnectionError")


def run_ready(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vitae", "ready"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_ready_command_for_container_healthchecks(services: Services, tmp_path: Path) -> None:
    import os  # noqa: PLC0415

    base = {k: v for k, v in os.environ.items() if not k.startswith("VITAE_")}
    ok = run_ready({**base, **env_for(services, tmp_path)})
    assert ok.returncode == 0, ok.stderr
    assert '"redis": "ok"' in ok.stdout
    down = run_ready(
        {
            **base,
            **env_for(services, tmp_path, VITAE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"),
        }
    )
    assert down.returncode == 1
    assert '"mongodb": "ok"' in down.stdout


def has_sample(text: str, pattern: str) -> bool:
    """Whether a Prometheus text page has a sample line matching ``pattern`` (a regex)."""
    return re.search(rf"^{pattern}", text, re.MULTILINE) is not None


async def test_metrics_of_the_api_and_of_a_worker_process(
    services: Services, tmp_path: Path
) -> None:
    """Each process serves the metrics it makes: the API its requests, a ``vitae worker``
    process its jobs, on its own port (``VITAE_WORKER_METRICS_PORT``)."""
    metrics_port, api_metrics_port = free_port(), free_port()
    env, cwd, port = process_environ(
        services,
        tmp_path,
        VITAE_QUEUE_NAME="metered",
        VITAE_WORKER_METRICS_PORT=str(metrics_port),
        VITAE_API_METRICS_PORT=str(api_metrics_port),
    )
    worker = start_worker(env, cwd, tmp_path)  # ready once its startup hook (and server) ran
    api = start_api(env, cwd, tmp_path)
    try:
        headers = {"Authorization": f"Bearer {create_user_token(env, cwd, 'counted@example.com')}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            resume = await create_resume(client, headers, {"basics": {"name": "Counted"}})
            created = (
                await client.post("/api/exports", json={"resumeId": resume["id"]}, headers=headers)
            ).json()
            assert (await wait_for_export(client, headers, created["exportId"]))[
                "status"
            ] == "completed"
            # Only operators reach the metrics: not on the public port, on a port of their own.
            assert (await client.get("/metrics")).status_code == 404
            api_text = (await client.get(f"http://127.0.0.1:{api_metrics_port}/metrics")).text
            worker_text = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
    finally:
        api.stop()
        worker.stop()
    assert has_sample(api_text, r'vitae_exports_requested_total\{watermarked="true"\} 1\.0$')
    assert 'path="/api/exports/{export_id}"' in api_text
    # The export ended in the worker process: the API's own registry never saw it.
    assert not has_sample(api_text, r"vitae_exports_finished_total\{")
    assert has_sample(worker_text, r'vitae_exports_finished_total\{status="completed"\} 1\.0$')
    for histogram in ("queue", "render", "store", "total"):
        assert has_sample(worker_text, rf"vitae_export_{histogram}_seconds_count 1\.0$"), histogram
    assert has_sample(worker_text, r"vitae_export_jobs_in_flight 0\.0$")
    assert has_sample(worker_text, r'vitae_export_queue_depth\{state="queued"\} ')
    # Bounded labels: no ids of any kind.
    assert not re.search(r"[0-9a-f]{24}", api_text + worker_text)


async def test_retention_deletes_old_exports_and_their_files(
    client: httpx.AsyncClient, settings: Settings, make_user: MakeUser, worker: Worker[Any]
) -> None:
    from vitae.exports.jobs import purge_expired_exports  # noqa: PLC0415
    from vitae.exports.models import Export  # noqa: PLC0415

    headers = await make_user()
    resume = await create_resume(client, headers, {"basics": {"name": "Old"}})
    ids = []
    for _ in range(2):
        created = (
            await client.post("/api/exports", json={"resumeId": resume["id"]}, headers=headers)
        ).json()
        ids.append(created["exportId"])
        await wait_for_export(client, headers, created["exportId"])
    deps = worker.context["deps"]
    collection = deps.engine.get_collection(Export)
    old = await collection.find_one({"_id": __import__("bson").ObjectId(ids[0])})
    # Made 31 days older, id included: the purge pages by ``_id``, whose ObjectId holds the
    # creation time.
    created = old["createdAt"] - timedelta(days=31)
    await collection.delete_one({"_id": old["_id"]})
    old_id = __import__("bson").ObjectId.from_datetime(created)
    await collection.insert_one({**old, "_id": old_id, "createdAt": created})
    ids[0] = str(old_id)
    old_file = settings.data_dir / "files" / old["storageKey"]
    assert old_file.exists()

    assert await purge_expired_exports({"deps": deps}) == {"purged": 1}  # pyright: ignore[reportArgumentType]
    assert (await client.get(f"/api/exports/{ids[0]}", headers=headers)).status_code == 404
    assert not old_file.exists()
    assert (await client.get(f"/api/exports/{ids[1]}", headers=headers)).json()[
        "status"
    ] == "completed"


async def test_queue_view_is_for_admins_only(
    idle_client: httpx.AsyncClient, idle_settings: Settings, make_user: MakeUser
) -> None:
    from vitae.cli import create_user  # noqa: PLC0415

    user = await make_user()
    assert (await idle_client.get("/api/admin/queue", headers=user)).status_code == 403
    resume = await create_resume(idle_client, user, {})
    await idle_client.post("/api/exports", json={"resumeId": resume["id"]}, headers=user)
    _, token = await create_user(idle_settings, "ops@example.com", "Ops", 0, admin=True)
    view: dict[str, Any] = (
        await idle_client.get("/api/admin/queue", headers={"Authorization": f"Bearer {token}"})
    ).json()
    assert view["queue"]["queued"] == 1
    assert view["exports"]["pending"] == 1
    assert view["recentFailures"] == []
