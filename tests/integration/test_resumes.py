"""Résumé CRUD: validation with the field's path, ownership, and the cascade on deletion."""

from __future__ import annotations

import json
from typing import Any

import httpx

from support import ROOT, MakeUser, create_resume
from vitae.resumes import limits


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


REAL_RESUMES = [
    ROOT / "tests" / "documents" / "samples" / "long.json",
    ROOT / "examples" / "jsonresume-sample.json",
]


async def test_real_resumes_are_within_the_limits(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    headers = await make_user()
    for path in REAL_RESUMES:
        await create_resume(client, headers, json.loads(path.read_text(encoding="utf-8")))
    at_the_limits = {
        "basics": {"summary": "x" * limits.MAX_STRING},
        "work": [{"highlights": ["h"] * limits.MAX_ITEMS}],
        "meta": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": [1]}}}}}}}},
    }
    await create_resume(client, headers, at_the_limits)


async def test_sizes_past_a_limit_are_refused_naming_the_field_and_the_limit(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    headers = await make_user()
    long_text = "x" * (limits.MAX_STRING + 1)
    many = ["h"] * (limits.MAX_ITEMS + 1)
    deep: dict[str, Any] = {"x": 1}
    for _ in range(limits.MAX_DEPTH):
        deep = {"x": deep}
    big = [{"summary": "y" * limits.MAX_STRING} for _ in range(30)]
    cases = [
        ({"basics": {"summary": long_text}}, "content.basics.summary", "10001 characters"),
        ({"work": [{"highlights": many}]}, "content.work[0].highlights", "201 items"),
        ({"custom": dict.fromkeys(map(str, range(201)), 1)}, "content.custom", "201 fields"),
        ({"meta": deep}, "content.meta.x.x.x.x.x.x.x.x.x", "deeper than 10 levels"),
        ({"work": big}, "content", f"the limit is {limits.MAX_DOCUMENT_BYTES}"),
    ]
    resume = await create_resume(client, headers, {})
    for content, key, reason in cases:
        for method, path in [("POST", "/api/resumes"), ("PATCH", f"/api/resumes/{resume['id']}")]:
            response = await client.request(
                method, path, json={"title": "t", "content": content}, headers=headers
            )
            assert response.status_code == 400, (key, response.text)
            body = response.json()
            assert [(e["key"], e["message"]) for e in body["extra"]] == [(key, body["detail"])]
            assert reason in body["detail"], body
            assert key in body["detail"], body
    assert (await client.get("/api/resumes", headers=headers)).json()["total"] == 1
