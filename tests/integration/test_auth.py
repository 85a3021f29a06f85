"""Every ``/api`` route needs a valid bearer JWT; each refusal says why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from support import MakeUser
from vitae.settings import Settings

SECRET_FREE_ROUTES = ["/health", "/schema/openapi.json"]


def token(settings: Settings, **claims: Any) -> str:
    payload = {"sub": "6650c0ffee0ddba11ca7f00d", "iat": datetime.now(UTC), **claims}
    payload.setdefault("exp", datetime.now(UTC) + timedelta(minutes=5))
    assert settings.jwt_secret
    return jwt.encode(payload, settings.jwt_secret, algorithm="HS256")


@pytest.mark.parametrize(
    "path", ["/api/exports", "/api/resumes", "/api/templates", "/api/users/me"]
)
async def test_missing_token_is_refused_with_a_reason(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 401
    assert "No JWT token found" in response.json()["detail"]


async def test_malformed_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/exports", headers={"Authorization": "Bearer not.a.jwt"})
    assert response.status_code == 401
    assert response.json()["detail"] == "the bearer token is malformed"


async def test_badly_signed_token(client: httpx.AsyncClient, settings: Settings) -> None:
    forged = jwt.encode(
        {"sub": "x", "exp": datetime.now(UTC) + timedelta(minutes=5)},
        "other-secret-that-is-long-enough-for-hs256",
        algorithm="HS256",
    )
    response = await client.get("/api/exports", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json()["detail"] == "the bearer token's signature is invalid"


async def test_expired_token(client: httpx.AsyncClient, settings: Settings) -> None:
    expired = token(settings, exp=datetime.now(UTC) - timedelta(seconds=5))
    response = await client.get("/api/exports", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert response.json()["detail"] == "the bearer token has expired"


async def test_token_of_unknown_user(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.get(
        "/api/exports", headers={"Authorization": f"Bearer {token(settings)}"}
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "the bearer token's user does not exist"


async def test_valid_token_identifies_the_user(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    headers = await make_user(credits=3, email="ada@example.com")
    response = await client.get("/api/users/me", headers=headers)
    assert response.status_code == 200
    assert response.json()["email"] == "ada@example.com"
    assert response.json()["creditBalance"] == 3


@pytest.mark.parametrize("path", SECRET_FREE_ROUTES)
async def test_public_routes_need_no_token(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 200
