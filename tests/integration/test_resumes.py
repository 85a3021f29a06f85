"""Résumé CRUD: validation with the field's path, ownership, and the cascade on deletion."""

from __future__ import annotations

from typing import Any

import httpx

from support import MakeUser, create_resume


async def test_crud_round_trip_keeps_unknown_fields(
    client: httpx.AsyncClient, make_user: MakeUser, sample_resume: dict[str, Any]
) -> None:
    headers = await make_user()
    content = {**sample_resume, "x-custom": {"kept": True}}
    created = await create_resume(client, headers, content, template="sidebar")
    assert created["template"] == "sidebar"
    assert created["content"]["x-custom"] == {"kept": True}
    assert created["content"]["basics"]["name"] == "Richard Hendriks"

    resume_id = created["id"]
    fetched = (await client.get(f"/api/resumes/{resume_id}", headers=headers)).json()
    assert fetched["content"] == created["content"]

    patched = await client.patch(
        f"/api/resumes/{resume_id}", json={"title": "Renamed"}, headers=headers
    )
    assert patched.status_code == 200
    assert patched.json()["title"] == "Renamed"
    assert patched.json()["content"] == created["content"]

    listed = (await client.get("/api/resumes", headers=headers)).json()
    assert listed["total"] == 1
    assert [r["id"] for r in listed["items"]] == [resume_id]

    assert (await client.delete(f"/api/resumes/{resume_id}", headers=headers)).status_code == 204
    assert (await client.get(f"/api/resumes/{resume_id}", headers=headers)).status_code == 404


async def test_wrong_type_is_refused_with_the_fields_path(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    headers = await make_user()
    response = await client.post(
        "/api/resumes",
        json={"title": "t", "content": {"work": [{"name": "Hooli", "highlights": "not a list"}]}},
        headers=headers,
    )
    assert response.status_code == 400
    body = response.json()
    detail = body["extra"][0]
    assert "content.work[0].highlights" in detail["key"]
    assert "Expected `array | null`, got `str`" in detail["message"]


async def test_bad_resume_bodies(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    headers = await make_user()
    cases = [
        ({"content": {}}, "title"),
        ({"title": "", "content": {}}, "title"),
        ({"title": "t"}, "content"),
        ({"title": "t", "content": {"basics": {"name": 42}}}, "content.basics.name"),
        ({"title": "t", "content": {}, "colour": "red"}, "colour"),
    ]
    for body, key in cases:
        response = await client.post("/api/resumes", json=body, headers=headers)
        assert response.status_code == 400, body
        assert key in str(response.json()), (body, response.json())
    response = await client.post(
        "/api/resumes", json={"title": "t", "content": {}, "template": "nope"}, headers=headers
    )
    assert response.status_code == 400
    assert response.json()["extra"][0]["key"] == "template"
    assert "unknown template 'nope'" in response.json()["detail"]


async def test_another_users_resume_is_not_found(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner, stranger = await make_user(), await make_user()
    resume = await create_resume(client, owner, {"basics": {"name": "Owner"}})
    path = f"/api/resumes/{resume['id']}"
    assert (await client.get(path, headers=stranger)).status_code == 404
    assert (await client.patch(path, json={"title": "x"}, headers=stranger)).status_code == 404
    assert (await client.delete(path, headers=stranger)).status_code == 404
    assert (await client.get("/api/resumes", headers=stranger)).json()["total"] == 0
    assert (await client.get(path, headers=owner)).status_code == 200


async def test_malformed_resume_id(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    response = await client.get("/api/resumes/123", headers=await make_user())
    assert response.status_code == 400
    assert response.json()["extra"][0]["key"] == "resume_id"
