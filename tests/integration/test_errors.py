"""One error body everywhere: ``status_code``, ``detail`` and ``extra``, a list naming the
field by its API name, whether the error is ours or Litestar's (429 is checked in
test_abuse.py, 503 in test_faults.py).
"""

from __future__ import annotations

from typing import Any

import httpx

from support import MakeUser, create_resume


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The body of an error answer, checked against the one shape; its first detail."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"status_code", "detail", "extra"}, body
    assert body["status_code"] == status
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["extra"], body
    for detail in body["extra"]:
        assert set(detail) <= {"key", "message", "source"}, detail
        assert detail["key"]
        assert detail["message"]
    return body["extra"][0]


async def test_a_missing_field_is_named_by_its_api_name(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    headers = await make_user()
    missing = await client.post("/api/resumes", json={"content": {}}, headers=headers)
    assert error_of(missing, 400)["key"] == "title"
    nested = await client.post(
        "/api/resumes",
        json={"title": "t", "content": {"work": [{"name": "Pied Piper"}], "basics": {"name": 4}}},
        headers=headers,
    )
    assert error_of(nested, 400) == {
        "key": "content.basics.name",
        "message": "Expected `str | null`, got `int`",
        "source": "body",
    }
    export = await client.post("/api/exports", json={}, headers=headers)
    assert error_of(export, 400)["key"] == "resumeId"
    query = await client.get("/api/exports?limit=0", headers=headers)
    assert error_of(query, 400) == {
        "key": "limit",
        "message": "Expected `int` >= 1",
        "source": "query",
    }
    malformed = await client.post("/api/resumes", content=b"{", headers=headers)
    assert error_of(malformed, 400)["key"] == "body"


async def test_authentication_and_permission_errors(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    anonymous = await client.get("/api/exports")
    assert error_of(anonymous, 401) == {
        "key": "Authorization",
        "message": anonymous.json()["detail"],
        "source": "header",
    }
    forged = await client.get("/api/exports", headers={"Authorization": "Bearer a.b.c"})
    assert error_of(forged, 401)["message"] == "the bearer token is malformed"
    not_admin = await client.get("/api/admin/queue", headers=await make_user())
    assert error_of(not_admin, 403)["key"] == "user"


async def test_not_found_conflict_too_large_and_unprocessable(
    idle_client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    headers = await make_user()
    nowhere = await idle_client.get("/api/nowhere", headers=headers)
    assert error_of(nowhere, 404)["key"] == "path"
    no_export = await idle_client.get("/api/exports/6650c0ffee0ddba11ca7f00d", headers=headers)
    assert error_of(no_export, 404)["key"] == "id"
    resume = await create_resume(idle_client, headers, {"basics": {"name": "Ada"}})
    created = await idle_client.post(
        "/api/exports",
        json={"resumeId": resume["id"]},
        headers={**headers, "Idempotency-Key": "k1"},
    )
    assert created.status_code == 202, created.text
    # Not completed yet (no worker reads this queue): nothing to download.
    early = await idle_client.get(f"{created.json()['statusUrl']}/download", headers=headers)
    assert error_of(early, 409)["key"] == "status"
    reused = await idle_client.post(
        "/api/exports",
        json={"resumeId": resume["id"], "paperSize": "letter"},
        headers={**headers, "Idempotency-Key": "k1"},
    )
    assert error_of(reused, 422)["key"] == "Idempotency-Key"
    huge = await idle_client.post("/api/resumes", content=b"x" * (3 * 1024 * 1024), headers=headers)
    assert error_of(huge, 413)["key"] == "body"
