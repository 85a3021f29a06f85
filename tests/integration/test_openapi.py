"""The OpenAPI document describes every route with its bodies, examples and errors."""

from __future__ import annotations

from typing import Any

import httpx

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
    assert spec["components"]["securitySchemes"]["BearerToken"]["scheme"] == "Bearer"
