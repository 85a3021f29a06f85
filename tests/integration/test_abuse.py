"""Hostile or careless clients: forged tokens, floods, repeats and oversized bodies."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest

from support import MakeUser, Services, create_resume, make_settings, running_api
from vitae.settings import Settings


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("kind", ["alg-none", "no-subject", "wrong-key", "expired"])
async def test_forged_tokens_are_refused(
    client: httpx.AsyncClient, settings: Settings, make_user: MakeUser, kind: str
) -> None:
    headers = await make_user()
    me = (await client.get("/api/users/me", headers=headers)).json()
    exp = int((datetime.now(UTC) + timedelta(minutes=5)).timestamp())
    assert settings.jwt_secret
    token = {
        "alg-none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({'sub': me['id'], 'exp': exp})}.",
        "no-subject": jwt.encode({"exp": exp}, settings.jwt_secret, algorithm="HS256"),
        "wrong-key": jwt.encode({"sub": me["id"], "exp": exp}, "x" * 40, algorithm="HS256"),
        "expired": jwt.encode(
            {"sub": me["id"], "exp": exp - 3600}, settings.jwt_secret, algorithm="HS256"
        ),
    }[kind]
    response = await client.get("/api/exports", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["detail"]


async def test_idempotency_key_returns_the_same_export(
    idle_client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    headers = await make_user()
    resume = await create_resume(idle_client, headers, {})
    keyed = {**headers, "Idempotency-Key": "order-42"}
    body = {"resumeId": resume["id"]}
    first = await idle_client.post("/api/exports", json=body, headers=keyed)
    again = await idle_client.post("/api/exports", json=body, headers=keyed)
    assert first.status_code == again.status_code == 202
    assert first.json()["exportId"] == again.json()["exportId"]
    other_body = await idle_client.post(
        "/api/exports", json={**body, "paperSize": "letter"}, headers=keyed
    )
    assert other_body.status_code == 422
    assert other_body.json()["extra"][0]["key"] == "Idempotency-Key"
    assert (await idle_client.get("/api/exports", headers=headers)).json()["total"] == 1
    # Keys belong to their user: another user's same key is a new request.
    stranger = await make_user()
    theirs = await create_resume(idle_client, stranger, {})
    response = await idle_client.post(
        "/api/exports",
        json={"resumeId": theirs["id"]},
        headers={**stranger, "Idempotency-Key": "order-42"},
    )
    assert response.status_code == 202
    assert response.json()["exportId"] != first.json()["exportId"]


async def test_exports_are_rate_limited_per_user(
    services: Services, data_dir: Path, make_user: MakeUser
) -> None:
    settings = make_settings(
        services, data_dir, VITAE_QUEUE_NAME="limited", VITAE_EXPORTS_PER_MINUTE="3"
    )
    headers, other = await make_user(), await make_user()
    async with running_api(settings) as client:
        resume = await create_resume(client, headers, {})
        statuses = [
            (
                await client.post("/api/exports", json={"resumeId": resume["id"]}, headers=headers)
            ).status_code
            for _ in range(4)
        ]
        limited = await client.post(
            "/api/exports", json={"resumeId": resume["id"]}, headers=headers
        )
        reads = await client.get("/api/exports", headers=headers)
        theirs = await create_resume(client, other, {})
        other_user = await client.post(
            "/api/exports", json={"resumeId": theirs["id"]}, headers=other
        )
    assert statuses == [202, 202, 202, 429]
    assert limited.status_code == 429
    assert (
        "at most 3 new exports per minute per user (VITAE_EXPORTS_PER_MINUTE)"
        in (limited.json()["detail"])
    )
    assert limited.json()["extra"][0]["key"] == "exports"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert reads.status_code == 200  # reading is not limited
    assert other_user.status_code == 202


async def test_oversized_and_malformed_bodies(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    headers = await make_user()
    huge = {"title": "big", "content": {"basics": {"summary": "x" * (3 * 1024 * 1024)}}}
    response = await client.post("/api/resumes", json=huge, headers=headers)
    assert response.status_code == 413
    malformed = await client.post(
        "/api/exports",
        content=b'{"resumeId": ',
        headers={**headers, "content-type": "application/json"},
    )
    assert malformed.status_code == 400
    assert malformed.json()["detail"]
    deep = "[" * 10_000 + "]" * 10_000
    nested = await client.post(
        "/api/resumes",
        content=f'{{"title": "t", "content": {{"x-deep": {deep}}}}}'.encode(),
        headers={**headers, "content-type": "application/json"},
    )
    assert nested.status_code == 400
    assert nested.json()["detail"] == "the JSON body is nested too deeply"
    wrong_type = await client.post(
        "/api/exports", content=b"resumeId=1", headers={**headers, "content-type": "text/plain"}
    )
    assert 400 <= wrong_type.status_code < 500
