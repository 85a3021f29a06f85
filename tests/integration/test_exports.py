"""The export pipeline through the API and a real worker: the product story's acceptance
criteria and testing requirements."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from pypdf import PdfReader
from saq import Queue

from support import MakeUser, create_resume, wait_for_export
from vitae.settings import Settings

pytestmark = pytest.mark.usefixtures("worker")


async def download(client: httpx.AsyncClient, file_url: str) -> bytes:
    response = await client.get(file_url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    return response.content


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@pytest.mark.parametrize("template", ["classic", "sidebar"])
async def test_whole_journey_produces_a_pdf_with_the_resumes_text(
    client: httpx.AsyncClient, make_user: MakeUser, sample_resume: dict[str, Any], template: str
) -> None:
    headers = await make_user(credits=5)
    resume = await create_resume(client, headers, sample_resume)

    response = await client.post(
        "/api/exports", json={"resumeId": resume["id"], "template": template}, headers=headers
    )
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["exportId"] == created["jobId"]
    assert created["status"] == "pending"
    assert created["watermarked"] is False
    assert (
        response.headers["location"]
        == created["statusUrl"]
        == f"/api/exports/{created['exportId']}"
    )
    assert created["eventsUrl"].startswith(f"{created['statusUrl']}/events?token=")

    done = await wait_for_export(client, headers, created["exportId"])
    assert done["status"] == "completed", done
    assert done["attempts"] == 1
    assert done["fileSize"] > 1000
    assert done["fileName"] == "Richard-Hendriks-Resume.pdf"
    assert done["completedAt"] >= done["startedAt"] >= done["createdAt"]
    pdf = await download(client, done["fileUrl"])
    assert len(pdf) == done["fileSize"]
    text = pdf_text(pdf)
    assert "Richard Hendriks" in text
    assert "CEO/President" in text

    redirect = await client.get(
        f"{created['statusUrl']}/download", headers=headers, follow_redirects=False
    )
    assert redirect.status_code == 302
    assert await download(client, redirect.headers["location"]) == pdf


async def test_free_user_gets_a_watermark(
    client: httpx.AsyncClient, make_user: MakeUser, sample_resume: dict[str, Any]
) -> None:
    pdfs: dict[bool, bytes] = {}
    for balance in (0, 1):
        headers = await make_user(credits=balance)
        resume = await create_resume(client, headers, sample_resume)
        created = (
            await client.post("/api/exports", json={"resumeId": resume["id"]}, headers=headers)
        ).json()
        assert created["watermarked"] is (balance == 0)
        done = await wait_for_export(client, headers, created["exportId"])
        assert done["watermarked"] is (balance == 0)
        pdfs[done["watermarked"]] = await download(client, done["fileUrl"])

    # The mark is drawn, not written: the same text as the paid export's, another PDF.
    assert pdfs[True] != pdfs[False]
    assert pdf_text(pdfs[True]) == pdf_text(pdfs[False])


async def test_job_is_queued_with_the_story_options(
    idle_client: httpx.AsyncClient,
    idle_settings: Settings,
    make_user: MakeUser,
    sample_resume: dict[str, Any],
) -> None:
    headers = await make_user(credits=1)
    resume = await create_resume(idle_client, headers, sample_resume)
    created = (
        await idle_client.post("/api/exports", json={"resumeId": resume["id"]}, headers=headers)
    ).json()

    queue = Queue.from_url(idle_settings.redis_url or "", name=idle_settings.queue_name)
    try:
        job = await queue.job(created["exportId"])
        assert job is not None
        assert job.status == "queued"
        assert job.kwargs == {
            "exportId": created["exportId"],
            "resumeId": resume["id"],
            "userId": job.kwargs["userId"] if job.kwargs else None,
            "watermarked": False,
        }
        assert (job.retries, job.retry_delay, job.retry_backoff, job.timeout) == (3, 1.0, True, 30)
        assert job.heartbeat > 0
        assert 0 < job.ttl <= 86_400
    finally:
        await queue.disconnect()

    record = (await idle_client.get(created["statusUrl"], headers=headers)).json()
    assert record["status"] == "pending"
    assert record["resumeId"] == resume["id"]
    assert record["format"] == "pdf"
    assert "fileUrl" not in record


@pytest.mark.parametrize(
    ("body", "key", "message"),
    [
        ({}, "resumeId", "Object missing required field `resumeId`"),
        ({"resumeId": "abc"}, "resumeId", "regex"),
        ({"resumeId": 42}, "resumeId", "Expected `str`"),
        (
            {"resumeId": "6650c0ffee0ddba11ca7f00d", "format": "docx"},
            "format",
            "Invalid enum value 'docx'",
        ),
        (
            {"resumeId": "6650c0ffee0ddba11ca7f00d", "paperSize": "a5"},
            "paperSize",
            "Invalid enum value 'a5'",
        ),
        ({"resumeId": "6650c0ffee0ddba11ca7f00d", "colour": "red"}, "colour", "unknown field"),
    ],
)
async def test_bad_export_requests_name_the_field(
    client: httpx.AsyncClient, make_user: MakeUser, body: dict[str, Any], key: str, message: str
) -> None:
    response = await client.post("/api/exports", json=body, headers=await make_user())
    assert response.status_code == 400, response.text
    text = str(response.json())
    assert key in text
    assert message in text


async def test_unknown_template_is_refused(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    headers = await make_user()
    resume = await create_resume(client, headers, {})
    response = await client.post(
        "/api/exports", json={"resumeId": resume["id"], "template": "../../etc"}, headers=headers
    )
    assert response.status_code == 400
    assert response.json()["extra"][0]["key"] == "template"


async def test_format_defaults_to_pdf(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    headers = await make_user()
    resume = await create_resume(client, headers, {"basics": {"name": "Default"}})
    created = (
        await client.post("/api/exports", json={"resumeId": resume["id"]}, headers=headers)
    ).json()
    done = await wait_for_export(client, headers, created["exportId"])
    assert (done["format"], done["paperSize"], done["template"]) == ("pdf", "a4", "classic")
    assert done["status"] == "completed"


async def test_ownership_other_users_resume_and_export_are_not_found(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    owner, stranger = await make_user(), await make_user()
    resume = await create_resume(client, owner, {"basics": {"name": "Owner"}})

    response = await client.post("/api/exports", json={"resumeId": resume["id"]}, headers=stranger)
    assert response.status_code == 404
    assert response.json()["extra"][0]["key"] == "resumeId"
    missing = await client.post(
        "/api/exports", json={"resumeId": "6650c0ffee0ddba11ca7f00d"}, headers=owner
    )
    assert missing.status_code == 404

    created = (
        await client.post("/api/exports", json={"resumeId": resume["id"]}, headers=owner)
    ).json()
    path = created["statusUrl"]
    assert (await client.get(path, headers=stranger)).status_code == 404
    assert (await client.get(f"{path}/download", headers=stranger)).status_code == 404
    assert (await client.delete(path, headers=stranger)).status_code == 404
    assert (await client.get("/api/exports", headers=stranger)).json()["total"] == 0
    assert (await wait_for_export(client, owner, created["exportId"]))["status"] == "completed"


async def test_list_is_own_newest_first_paginated_and_filtered(
    idle_client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    headers = await make_user()
    first = await create_resume(idle_client, headers, {})
    second = await create_resume(idle_client, headers, {})
    ids = []
    for resume in (first, second, first):
        created = await idle_client.post(
            "/api/exports", json={"resumeId": resume["id"]}, headers=headers
        )
        ids.append(created.json()["exportId"])
    await idle_client.delete(f"/api/exports/{ids[0]}", headers=headers)

    page = (await idle_client.get("/api/exports?limit=2", headers=headers)).json()
    assert page["total"] == 3
    assert [e["id"] for e in page["items"]] == [ids[2], ids[1]]
    rest = (await idle_client.get("/api/exports?limit=2&offset=2", headers=headers)).json()
    assert [e["id"] for e in rest["items"]] == [ids[0]]
    by_resume = (
        await idle_client.get(f"/api/exports?resumeId={first['id']}", headers=headers)
    ).json()
    assert [e["id"] for e in by_resume["items"]] == [ids[2], ids[0]]
    cancelled = (await idle_client.get("/api/exports?status=cancelled", headers=headers)).json()
    assert [e["id"] for e in cancelled["items"]] == [ids[0]]
    bad = await idle_client.get("/api/exports?status=lost&limit=0", headers=headers)
    assert bad.status_code == 400


async def test_cancel_pending_export_then_conflict(
    idle_client: httpx.AsyncClient, idle_settings: Settings, make_user: MakeUser
) -> None:
    headers = await make_user()
    resume = await create_resume(idle_client, headers, {})
    created = (
        await idle_client.post("/api/exports", json={"resumeId": resume["id"]}, headers=headers)
    ).json()

    response = await idle_client.delete(created["statusUrl"], headers=headers)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    again = await idle_client.delete(created["statusUrl"], headers=headers)
    assert again.status_code == 409
    assert again.json()["detail"] == "the export is already cancelled"
    download = await idle_client.get(f"{created['statusUrl']}/download", headers=headers)
    assert download.status_code == 409

    queue = Queue.from_url(idle_settings.redis_url or "", name=idle_settings.queue_name)
    try:
        job = await queue.job(created["exportId"])
        assert job is not None
        assert job.status == "aborted"
    finally:
        await queue.disconnect()


async def test_deleting_a_resume_cancels_its_pending_exports(
    idle_client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    headers = await make_user()
    doomed = await create_resume(idle_client, headers, {})
    kept = await create_resume(idle_client, headers, {})
    doomed_exports = [
        (
            await idle_client.post("/api/exports", json={"resumeId": doomed["id"]}, headers=headers)
        ).json()
        for _ in range(2)
    ]
    kept_export = (
        await idle_client.post("/api/exports", json={"resumeId": kept["id"]}, headers=headers)
    ).json()

    assert (
        await idle_client.delete(f"/api/resumes/{doomed['id']}", headers=headers)
    ).status_code == 204
    for export in doomed_exports:
        body = (await idle_client.get(export["statusUrl"], headers=headers)).json()
        assert body["status"] == "cancelled"
    assert (await idle_client.get(kept_export["statusUrl"], headers=headers)).json()[
        "status"
    ] == "pending"


async def test_local_links_refuse_tampering_and_expiry(
    client: httpx.AsyncClient, make_user: MakeUser, settings: Settings
) -> None:
    from vitae.storage import LinkSigner  # noqa: PLC0415

    headers = await make_user()
    resume = await create_resume(client, headers, {"basics": {"name": "Linked"}})
    created = (
        await client.post("/api/exports", json={"resumeId": resume["id"]}, headers=headers)
    ).json()
    url = (await wait_for_export(client, headers, created["exportId"]))["fileUrl"]
    assert url.startswith(f"{client.base_url}/files/exports/")

    tampered = url.replace("Linked", "Other")
    assert (await client.get(tampered)).status_code == 403
    forged = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    response = await client.get(forged)
    assert response.status_code == 403
    assert response.json()["detail"] == "the download link's signature is invalid"
    other_key = url.replace(created["exportId"], "6650c0ffee0ddba11ca7f00d")
    assert (await client.get(other_key)).status_code == 403

    garbage = await client.get(
        "/files/%C2%91.%C2%98?filename=x&expires=1&signature=" + "%C3%98" * 64
    )
    assert garbage.status_code in {403, 404}

    # A correctly signed link whose time is up.
    key = url.split("/files/", 1)[1].split("?", 1)[0]
    signer = LinkSigner(f"files:{settings.jwt_secret}")
    signature = signer.signature(key, 1000, "a.pdf")
    expired = await client.get(f"/files/{key}?expires=1000&filename=a.pdf&signature={signature}")
    assert expired.status_code == 403
    assert expired.json()["detail"] == "the download link has expired"
    fresh = signer.signature(key, 2_000_000_000, "a.pdf")
    valid = await client.get(f"/files/{key}?expires=2000000000&filename=a.pdf&signature={fresh}")
    assert valid.status_code == 200
    assert 'filename="a.pdf"' in valid.headers["content-disposition"]


async def test_template_options_are_validated_stored_and_used(
    client: httpx.AsyncClient, make_user: MakeUser, sample_resume: dict[str, Any]
) -> None:
    headers = await make_user(credits=1)
    resume = await create_resume(client, headers, sample_resume)
    body = {
        "resumeId": resume["id"],
        "template": "compact",
        "paperSize": "letter",
        "options": {"accentColor": "#1F4E79", "sectionOrder": ["education", "work"]},
    }
    created = (await client.post("/api/exports", json=body, headers=headers)).json()
    done = await wait_for_export(client, headers, created["exportId"])
    assert done["status"] == "completed", done
    assert done["options"]["accentColor"] == "#1f4e79"
    assert done["options"]["sectionOrder"][:2] == ["education", "work"]
    reader = PdfReader(io.BytesIO(await download(client, done["fileUrl"])))
    assert [float(v) for v in reader.pages[0].mediabox[2:]] == [612.0, 792.0]

    bad = await client.post(
        "/api/exports",
        json={**body, "options": {"accentColor": "reddish"}},
        headers=headers,
    )
    assert bad.status_code == 400
    assert bad.json()["extra"][0]["key"] == "options.accentColor"
    unknown = await client.post(
        "/api/exports", json={**body, "options": {"glitter": True}}, headers=headers
    )
    assert unknown.status_code == 400
    assert unknown.json()["extra"][0]["key"] == "options.glitter"


async def test_template_catalogue_lists_options(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    templates = (await client.get("/api/templates", headers=await make_user())).json()
    names = {t["name"] for t in templates}
    assert {"classic", "sidebar", "compact", "academic"} <= names
    assert all(t["options"] and t["paperSizes"] == ["a4", "letter"] for t in templates)
