"""The attack table of docs/security.md, run against a real `vitae api` process: what a
hostile or careless client tries, and the answer it must get. The process's own log is read
too: a refused request is one line at info, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from processes import VITAE, Child

from support import (
    JWT_SECRET,
    Headers,
    MakeUser,
    Services,
    create_resume,
    process_environ,
    start_api,
    wait_until,
)
from vitae.users.auth import STREAM_AUDIENCE


@dataclasses.dataclass(frozen=True)
class Api:
    """A running `vitae api` and where it logs."""

    url: str
    process: Child
    env: dict[str, str]
    cwd: Path

    async def lines_of(self, request_id: str) -> list[dict[str, Any]]:
        """The JSON log lines of one request, once its closing ``request`` line is written
        (just after the response is sent).
        """
        lines: list[dict[str, Any]] = []

        def logged() -> bool:
            nonlocal lines
            text = self.process.text().splitlines()
            every = [json.loads(line) for line in text if line[:1] == "{"]
            lines = [line for line in every if line.get("request_id") == request_id]
            return any(line["event"] == "request" for line in lines)

        await wait_until(logged, f"no request line for {request_id}", timeout=10)
        return lines


LIMITS = {
    "VITAE_STREAMS_PER_USER": "2",
    "VITAE_RESUMES_PER_USER": "3",
    "VITAE_MAX_HEADER_BYTES": "8192",
    "VITAE_SSE_HEARTBEAT": "1",
    "VITAE_LOG_LEVEL": "info",
}


@pytest.fixture(scope="module")
def api(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp_path = tmp_path_factory.mktemp("attacks")
    # The test database, so that `make_user` users exist for it.
    env, cwd, port = process_environ(
        services, tmp_path, VITAE_MONGODB_DATABASE="vitae_test", **LIMITS
    )
    process = start_api(env, cwd, tmp_path)
    try:
        yield Api(f"http://127.0.0.1:{port}", process, env, cwd)
    finally:
        process.stop()


@pytest.fixture
async def client(api: Api) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=api.url, timeout=30)


def request_id() -> dict[str, str]:
    """A fresh request id, to find the request's log lines."""
    return {"X-Request-ID": uuid.uuid4().hex}


def assert_refused(
    response: httpx.Response, status: int, detail: str, key: str | None = None
) -> None:
    """The project's one error shape with the reason (and the field, where one is named)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) <= {"status_code", "detail", "extra"}, body
    assert body["status_code"] == status
    assert detail in body["detail"], body
    if key is not None:
        assert body["extra"][0]["key"] == key, body


# -- Bodies: every malformed body is a 4xx in the one error shape, logged once at info --------

JSON = {"content-type": "application/json"}
DEEP = "[" * 10_000 + "]" * 10_000
FORM = {"content-type": "application/x-www-form-urlencoded"}
UTF8 = "not valid UTF-8"
NOT_JSON = "the body must be JSON"
# What was sent, where, and the answer: status, a words of the reason, the field it names.
BODIES = [
    ("invalid UTF-8", "/api/resumes", b'{"title":"t\xff","content":{}}', JSON, 400, UTF8, "body"),
    ("cut UTF-8", "/api/resumes", b'{"title":"t","content":{"a":"\xc3"}}', JSON, 400, UTF8, "body"),
    ("invalid UTF-8, export", "/api/exports", b'{"resumeId":"\xff"}', JSON, 400, UTF8, "body"),
    ("truncated JSON", "/api/exports", b'{"resumeId": ', JSON, 400, "truncated", None),
    ("not JSON", "/api/resumes", b"title=t", JSON, 400, "JSON is malformed", None),
    (
        "deep JSON",
        "/api/resumes",
        f'{{"title":"t","content":{DEEP}}}'.encode(),
        JSON,
        400,
        "nested too deeply",
        "body",
    ),
    ("a JSON array", "/api/resumes", b"[]", JSON, 400, "Validation failed", "data"),
    ("form body", "/api/resumes", b"title=t", FORM, 415, NOT_JSON, "body"),
    (
        "text body",
        "/api/exports",
        b"resumeId=1",
        {"content-type": "text/plain"},
        415,
        NOT_JSON,
        "body",
    ),
    (
        "no content type",
        "/api/webhooks",
        b'{"url": "https://a.example"}',
        {},
        415,
        NOT_JSON,
        "body",
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "detail", "key"),
    [row[1:] for row in BODIES],
    ids=[row[0] for row in BODIES],
)
async def test_a_malformed_body_is_a_4xx_logged_once_at_info(
    api: Api,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    detail: str,
    key: str | None,
) -> None:
    auth = await make_user()
    ids = request_id()
    async with client:
        response = await client.post(path, content=body, headers={**auth, **headers, **ids})
    assert_refused(response, status, detail, key)
    lines = await api.lines_of(ids["X-Request-ID"])
    assert [(line["event"], line["level"]) for line in lines] == [("request", "info")], lines
    assert "Traceback" not in api.process.text()


# -- Browser protections on every response a browser may render or frame ---------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/static/app.js",
        "/static/style.css",
        "/schema",
        "/schema/swagger",
        "/api/exports",
        "/nope",
    ],
)
async def test_every_response_carries_the_browser_protections(
    client: httpx.AsyncClient, path: str
) -> None:
    async with client:
        response = await client.get(path)
    headers = response.headers
    csp = {
        part.strip().split(" ", 1)[0]: part.strip().split(" ", 1)[1]
        for part in headers["content-security-policy"].split(";")
    }
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'"  # no inline script, no other origin
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"
    # Inline styles only on the API docs, whose scripts set them.
    assert csp["style-src"] == (
        "'self' 'unsafe-inline'" if path.startswith("/schema") else "'self'"
    )
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"


# -- Authentication: only `Bearer`, audiences exactly ------------------------------------------


def token(sub: str, **claims: Any) -> str:
    """A token signed with the service's secret (so only its shape can be wrong)."""
    now = datetime.now(UTC)
    payload = {"sub": sub, "iat": now, "exp": now + timedelta(minutes=5), **claims}
    return jwt.encode(payload, JWT_SECRET, algorithm="HS256")


async def user_id(client: httpx.AsyncClient, headers: Headers) -> str:
    """The id of the user whose token is in ``headers``."""
    response = await client.get("/api/users/me", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["id"]


@pytest.mark.parametrize(
    ("scheme", "status"),
    [("Bearer", 200), ("bearer", 200), ("BEARER", 200), ("Basic", 401), ("Token", 401), ("", 401)],
)
async def test_only_the_bearer_scheme_is_accepted(
    client: httpx.AsyncClient, make_user: MakeUser, scheme: str, status: int
) -> None:
    jwt_token = (await make_user())["Authorization"].split(" ", 1)[1]
    value = f"{scheme} {jwt_token}" if scheme else jwt_token
    async with client:
        response = await client.get("/api/resumes", headers={"Authorization": value})
        assert response.status_code == status, response.text
        if status == 401:
            assert_refused(response, 401, "Bearer <token>")
            # The event streams read the header themselves (a stream would not end: only
            # the refusals are asked for).
            events = await client.get("/api/exports/events", headers={"Authorization": value})
            assert_refused(events, 401, "Bearer <token>")


async def test_audiences_are_matched_exactly(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    async with client:
        sub = await user_id(client, await make_user())
        listed = token(sub, aud=[STREAM_AUDIENCE, "other"], stream="*")
        as_bearer = await client.get("/api/resumes", headers={"Authorization": f"Bearer {listed}"})
        assert_refused(as_bearer, 401, "not a bearer token")
        as_stream_bearer = await client.get(
            "/api/exports/events", headers={"Authorization": f"Bearer {listed}"}
        )
        assert_refused(as_stream_bearer, 401, "not a bearer token")
        as_stream = await client.get("/api/exports/events", params={"token": listed})
        assert_refused(as_stream, 401, "audience")
        other = token(sub, aud="someone-else")
        elsewhere = await client.get("/api/resumes", headers={"Authorization": f"Bearer {other}"})
        assert_refused(elsewhere, 401, "not a bearer token")
        # Unchanged: a token with no audience is a bearer token, a stream token a stream's.
        plain = await client.get("/api/resumes", headers={"Authorization": f"Bearer {token(sub)}"})
        assert plain.status_code == 200, plain.text


# -- What one user may hold, and how large a request may be ------------------------------------


async def test_a_header_block_past_the_limit_is_a_431_naming_it(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    headers = {**await make_user(), "X-Padding": "a" * 9_000}
    async with client:
        response = await client.get("/api/resumes", headers=headers)
    assert_refused(response, 431, "exceed 8192 bytes (VITAE_MAX_HEADER_BYTES)", "headers")


async def test_a_huge_header_block_is_not_read(
    api: Api, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    # The server stops reading past the limit and closes: the client, still sending 10 MB,
    # sees the 431 or the connection end, never a served request.
    headers = {**await make_user(), "X-Padding": "a" * (10 * 1024 * 1024)}
    async with client:
        try:
            response = await client.get("/api/resumes", headers=headers)
        except httpx.TransportError:
            pass
        else:
            assert_refused(response, 431, "(VITAE_MAX_HEADER_BYTES)", "headers")
        assert (await client.get("/health")).status_code == 200  # and goes on serving
    assert api.process.alive()


async def test_a_header_block_within_the_limit_is_served(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    headers = {**await make_user(), "X-Padding": "a" * 6_000}
    async with client:
        response = await client.get("/api/resumes", headers=headers)
    assert response.status_code == 200, response.text


async def test_resumes_per_user_are_capped_and_listed_without_content(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    headers, other = await make_user(), await make_user()
    bulky = {"basics": {"name": "Bulky", "summary": "x" * 100_000}}
    async with client:
        ids = [(await create_resume(client, headers, bulky))["id"] for _ in range(3)]
        refused = await client.post(
            "/api/resumes", json={"title": "fourth", "content": {}}, headers=headers
        )
        assert_refused(refused, 429, "at most 3 résumés per user (VITAE_RESUMES_PER_USER)")
        await create_resume(client, other, {})  # a quota per user, not per service
        listed = await client.get("/api/resumes", params={"limit": 100}, headers=headers)
        too_many = await client.get("/api/resumes", params={"limit": 101}, headers=headers)
        assert (await client.delete(f"/api/resumes/{ids[0]}", headers=headers)).status_code == 204
        await create_resume(client, headers, {})
        one = await client.get(f"/api/resumes/{ids[1]}", headers=headers)
    page = listed.json()
    assert page["total"] == 3
    assert [set(item) for item in page["items"]] == [
        {"id", "title", "template", "createdAt", "updatedAt"}
    ] * 3
    assert len(listed.content) < 2_000  # three 100 kB résumés, listed in a few hundred bytes
    assert too_many.status_code == 400
    assert one.json()["content"] == bulky


async def test_open_event_streams_per_user_are_capped(api: Api, make_user: MakeUser) -> None:
    headers, other = await make_user(), await make_user()
    async with (
        contextlib.AsyncExitStack() as streams,
        httpx.AsyncClient(base_url=api.url, timeout=30) as client,
    ):
        for _ in range(2):
            opened = await streams.enter_async_context(
                client.stream("GET", "/api/exports/events", headers=headers)
            )
            assert opened.status_code == 200
        refused = await client.get("/api/exports/events", headers=headers)
        assert_refused(refused, 429, "at most 2 open event streams per user", "streams")
        async with client.stream("GET", "/api/exports/events", headers=other) as theirs:
            assert theirs.status_code == 200  # a quota per user
        # The stream token's way in counts the same.
        events_url = (await client.get("/api/users/me", headers=headers)).json()["eventsUrl"]
        by_token = await client.get(events_url)
        assert_refused(by_token, 429, "(VITAE_STREAMS_PER_USER)", "streams")
    # Closed streams give their leases back.
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:

        async def reopened() -> bool:
            async with client.stream("GET", "/api/exports/events", headers=headers) as again:
                return again.status_code == 200

        await wait_until(reopened, "a closed stream's lease was not given back", timeout=10)


# -- A deleted user's tokens -------------------------------------------------------------------


async def test_a_deleted_users_tokens_are_refused_at_once(
    api: Api, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    headers = await make_user(email=email)
    async with client:
        # The API process has just read (and kept) the user.
        assert (await client.get("/api/resumes", headers=headers)).status_code == 200
        # Another process deletes the user; the API's next request must not pass.
        env = {**api.env, "VITAE_MONGODB_DATABASE": "vitae_test"}
        deleted = await asyncio.create_subprocess_exec(
            *VITAE,
            "users",
            "delete",
            "--email",
            email,
            env=env,
            cwd=api.cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _out, errors = await asyncio.wait_for(deleted.communicate(), 60)
        assert deleted.returncode == 0, errors.decode()
        response = await client.get("/api/resumes", headers=headers)
        assert_refused(response, 401, "does not exist")
        stream = await client.get("/api/exports/events", headers=headers)
        assert_refused(stream, 401, "does not exist")
