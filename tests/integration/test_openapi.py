"""The OpenAPI document describes every route with its bodies, examples and errors; it
validates, and a client generated from it works unedited.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from support import SAMPLE, MakeUser, wait_until

ROUTES = {
    "/api/exports": {"get", "post"},
    "/api/exports/{export_id}": {"get", "delete"},
    "/api/exports/{export_id}/download": {"get"},
    "/api/resumes": {"get", "post"},
    "/api/resumes/{resume_id}": {"get", "patch", "delete"},
    "/api/templates": {"get"},
    "/api/templates/{name}/preview.png": {"get"},
    "/api/exports/{export_id}/events": {"get"},
    "/api/exports/events": {"get"},
    "/api/admin/queue": {"get"},
    "/ready": {"get"},
    "/api/users/me": {"get"},
    "/health": {"get"},
}


async def test_every_route_is_documented(client: httpx.AsyncClient) -> None:
    spec: dict[str, Any] = (await client.get("/schema/openapi.json")).json()
    paths = spec["paths"]
    for path, methods in ROUTES.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
        for method in methods:
            operation = paths[path][method]
            assert operation.get("summary"), (path, method)
            if path.startswith("/api"):
                assert "401" in operation["responses"], (path, method)
    assert spec["security"] == [{"BearerToken": []}]


async def test_export_creation_is_fully_described(client: httpx.AsyncClient) -> None:
    spec: dict[str, Any] = (await client.get("/schema/openapi.json")).json()
    post = spec["paths"]["/api/exports"]["post"]
    assert {"202", "400", "401", "404", "503"} <= set(post["responses"])
    body = post["requestBody"]["content"]["application/json"]
    assert len(body["schema"]["examples"]) == 2
    schema = spec["components"]["schemas"]["ExportCreate"]
    assert schema["required"] == ["resumeId"]
    assert schema["properties"]["resumeId"]["pattern"] == "^[0-9a-fA-F]{24}$"
    assert schema["properties"]["format"]["default"] == "pdf"
    error = post["responses"]["404"]["content"]["application/json"]
    assert error["examples"]
    created = spec["components"]["schemas"]["ExportCreated"]
    assert {"exportId", "jobId", "statusUrl", "eventsUrl"} <= set(created["properties"])
    assert spec["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"


async def spec_of(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200, response.text
    return response.json()


def operations(spec: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Every operation by its id: (method, path, operation)."""
    return {
        operation["operationId"]: (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    }


async def test_the_document_is_valid_openapi(client: httpx.AsyncClient) -> None:
    validate(await spec_of(client))


async def test_operation_ids_are_verbs(client: httpx.AsyncClient) -> None:
    ids = operations(await spec_of(client))
    assert {
        "createExport",
        "getExport",
        "listExports",
        "streamExportEvents",
        "streamAllExportEvents",
        "downloadExport",
        "cancelExport",
        "createResume",
        "getResume",
        "listResumes",
        "updateResume",
        "deleteResume",
        "createWebhook",
        "listWebhooks",
        "getCurrentUser",
        "listTemplates",
        "getTemplatePreview",
        "getHealth",
        "getReadiness",
        "downloadFile",
    } <= set(ids)
    assert ids["createExport"][:2] == ("post", "/api/exports")
    assert ids["streamExportEvents"][1] == "/api/exports/{export_id}/events"


async def test_public_routes_need_no_token_and_streams_take_one_in_the_query(
    client: httpx.AsyncClient,
) -> None:
    ids = operations(await spec_of(client))
    for public in ("getHealth", "getReadiness", "downloadFile"):
        assert ids[public][2]["security"] == [], public
    assert "security" not in ids["createExport"][2]  # the document's bearer requirement holds
    for stream in ("streamExportEvents", "streamAllExportEvents"):
        parameters = {p["name"]: p for p in ids[stream][2]["parameters"]}
        assert parameters["token"]["in"] == "query", stream
        assert not parameters["token"]["required"], stream
        assert "text/event-stream" in ids[stream][2]["responses"]["200"]["content"]


async def test_binary_responses_are_declared(client: httpx.AsyncClient) -> None:
    ids = operations(await spec_of(client))
    pdf = ids["downloadFile"][2]["responses"]["200"]["content"]
    assert list(pdf) == ["application/pdf"]
    png = ids["getTemplatePreview"][2]["responses"]["200"]["content"]
    assert list(png) == ["image/png"]


async def test_error_examples_are_written_not_generated(client: httpx.AsyncClient) -> None:
    """Every error example has the status of its response (no random filler)."""
    for _, path, operation in operations(await spec_of(client)).values():
        for status, response in operation["responses"].items():
            for content in (response.get("content") or {}).values():
                for example in (content.get("examples") or {}).values():
                    if int(status) >= 400:
                        assert example["value"]["status_code"] == int(status), (path, status)


# The generator supports files only as `application/octet-stream`: a setting of the generator,
# so the generated code itself is used as it comes.
GENERATOR_CONFIG = """\
content_type_overrides:
  application/pdf: application/octet-stream
  image/png: application/octet-stream
post_hooks: []
"""


def generate_client(spec: bytes, where: Path) -> Any:
    """Generate the Python client with openapi-python-client and import it."""
    (where / "openapi.json").write_bytes(spec)
    (where / "config.yaml").write_text(GENERATOR_CONFIG, encoding="utf-8")
    generator = Path(sys.executable).parent / "openapi-python-client"
    result = subprocess.run(  # noqa: S603  (a dev dependency's command line)
        [
            str(generator),
            "generate",
            "--path",
            "openapi.json",
            "--config",
            "config.yaml",
            "--meta",
            "none",
            "--output-path",
            "vitae_client",
        ],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout, result.stdout
    sys.path.insert(0, str(where))
    try:
        return importlib.import_module("vitae_client")
    finally:
        sys.path.remove(str(where))


@pytest.mark.usefixtures("worker")
async def test_a_generated_python_client_exports_a_resume_unedited(
    client: httpx.AsyncClient, make_user: MakeUser, tmp_path: Path
) -> None:
    package = generate_client((await client.get("/schema/openapi.json")).content, tmp_path)
    models = importlib.import_module("vitae_client.models")
    resumes = importlib.import_module("vitae_client.api.resumes.create_resume")
    create = importlib.import_module("vitae_client.api.exports.create_export")
    get = importlib.import_module("vitae_client.api.exports.get_export")
    download = importlib.import_module("vitae_client.api.exports.download_export")
    headers = await make_user(credits=5)
    token = headers["Authorization"].removeprefix("Bearer ")
    vitae = package.AuthenticatedClient(
        base_url=str(client.base_url), token=token, follow_redirects=True, timeout=30
    )
    content = models.JsonResume.from_dict(json.loads(SAMPLE.read_text(encoding="utf-8")))
    with vitae:
        resume = await resumes.asyncio(
            client=vitae, body=models.ResumeCreate(title="Generated", content=content)
        )
        assert isinstance(resume, models.ResumeRead), resume
        created = await create.asyncio(client=vitae, body=models.ExportCreate(resume_id=resume.id))
        assert isinstance(created, models.ExportCreated), created
        export: Any = None

        async def completed() -> bool:
            nonlocal export
            export = await get.asyncio(client=vitae, export_id=created.export_id)
            assert export.status not in {models.ExportStatus.FAILED, models.ExportStatus.CANCELLED}
            return export.status == models.ExportStatus.COMPLETED

        await wait_until(completed, lambda: f"export stuck at {export}", timeout=30, interval=0.05)
        assert export.file_size
        pdf = await download.asyncio_detailed(client=vitae, export_id=created.export_id)
        assert pdf.content.startswith(b"%PDF"), pdf.status_code
        assert len(pdf.content) == export.file_size
