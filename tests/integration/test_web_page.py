"""The web page in a real headless Chromium (Debian's package, driven by Playwright): sign in
from the link ``just dev`` prints, export the sample résumé, watch it live, download the PDF
through the page's link; mistakes and refused tokens are shown on the page.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Route, async_playwright, expect
from pypdf import PdfReader

from support import ARTIFACTS, SAMPLE, MakeUser, running_api, running_worker
from vitae.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LETTER_POINTS = (612, 792)


def require_chromium() -> Path:
    """The system's Chromium, or a failure that says how to install it (never a skip)."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install Debian's package "
            "(apt-get install -y chromium) to run the browser tests",
            pytrace=False,
        )
    return CHROMIUM


@asynccontextmanager
async def chromium() -> AsyncGenerator[Browser]:
    """A headless Chromium; Playwright never downloads a browser of its own here."""
    executable = require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    """A queue of the test's own, so the worker starts exactly when the test says."""
    return dataclasses.replace(settings, queue_name="web-page")


async def download_pdf(page: Page) -> PdfReader:
    """Click the page's download link and open what the browser saved."""
    async with page.expect_download() as download_info:
        await page.locator("#download-link").click()
    download = await download_info.value
    assert download.suggested_filename.endswith(".pdf")
    return PdfReader(await download.path())


async def save_screenshots(page: Page) -> None:
    """The page as a person sees it, wide and on a phone, kept as test artifacts."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "web-page.png", full_page=True)
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.screenshot(path=ARTIFACTS / "web-page-narrow.png", full_page=True)


async def check_resume_mistakes(page: Page) -> None:
    """Invalid JSON is caught in the page; a wrong type is refused by the API, with its path."""
    resume_error = page.locator("#resume-error")
    await page.locator("#resume").fill('{"basics": {"name": "Richard"')
    await page.click("#export-button")
    await expect(resume_error).to_contain_text("This is not valid JSON")

    await page.locator("#resume").fill(json.dumps({"basics": {"name": 42}}))
    await page.click("#export-button")
    await expect(resume_error).to_contain_text("This résumé has a mistake to fix")
    await expect(resume_error).to_contain_text("basics.name must be text, not a whole number.")
    await expect(resume_error).not_to_contain_text("Expected")


def watch_errors(page: Page) -> list[str]:
    """Uncaught exceptions in the page's scripts."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


async def test_an_export_from_the_page(web_settings: Settings, make_user: MakeUser) -> None:
    headers = await make_user(email="richard@example.com")
    token = headers["Authorization"].removeprefix("Bearer ")
    async with (
        running_api(web_settings) as api,
        chromium() as browser,
    ):
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        errors = watch_errors(page)
        await page.goto(f"{api.base_url}/#token={token}")
        await expect(page.locator("#account-email")).to_have_text("richard@example.com")
        assert "token" not in page.url, "the token stays out of the address bar"
        await expect(page.locator("#history-empty")).to_be_visible()

        await check_resume_mistakes(page)
        resume = page.locator("#resume")
        await page.set_input_files("#resume-file", SAMPLE)  # uploaded, this time
        await expect(resume).to_have_value(re.compile("Richard Hendriks"))
        await expect(page.locator("#title")).to_have_attribute(
            "placeholder", "Richard Hendriks — Programmer"
        )
        await page.check("#template-sidebar")
        preview = page.locator("#preview-image")
        await expect(preview).to_have_attribute("alt", "Preview of the Sidebar template")
        await expect(preview).to_be_visible()
        await page.select_option("#paper-size", "letter")
        await page.click("#export-button")
        await expect(page.locator("#resume-error")).to_be_hidden()
        status = page.locator("#export-status")
        await expect(status).to_have_attribute("data-status", "pending")
        # The stream is open before any worker runs: every change will reach the page.
        await expect(status).to_have_attribute("data-stream", "open")

        async with running_worker(web_settings):
            await expect(page.locator("#download-link")).to_be_visible(timeout=20_000)
        await expect(status).to_have_attribute("data-status", "completed")
        stages = (await status.get_attribute("data-stages") or "").split()
        assert "rendering" in stages, stages
        await expect(page.locator("#status-bar")).to_have_attribute("aria-valuenow", "100")
        await expect(page.locator("#file-size")).to_have_text(re.compile(r"^\d+(\.\d)? kB$"))

        pdf = await download_pdf(page)
        assert "Richard Hendriks" in "".join(p.extract_text() for p in pdf.pages)
        box = pdf.pages[0].mediabox
        assert (round(float(box.width)), round(float(box.height))) == LETTER_POINTS

        rows = page.locator("#history-rows tr")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_have_attribute("data-status", "completed")
        await expect(rows.first).to_contain_text("Sidebar")
        await expect(rows.first.get_by_role("link")).to_be_visible()

        await save_screenshots(page)
        # The token was kept: a reload is still signed in and lists the export.
        await page.reload()
        await expect(page.locator("#account-email")).to_have_text("richard@example.com")
        await expect(rows.first).to_have_attribute("data-status", "completed")
        assert errors == []


async def test_a_refused_token_is_shown_and_another_can_be_given(
    web_settings: Settings, make_user: MakeUser
) -> None:
    headers = await make_user(email="ada@example.com")
    async with running_api(web_settings) as api, chromium() as browser:
        page = await browser.new_page()
        errors = watch_errors(page)
        await page.goto(f"{api.base_url}/#token=not-a-token")
        await expect(page.locator("#alert")).to_contain_text("the bearer token is malformed")
        await expect(page.locator("#sign-in")).to_be_visible()
        await expect(page.locator("#workspace")).to_be_hidden()
        assert await page.evaluate("localStorage.getItem('vitae.token')") is None

        await page.get_by_label("API token", exact=True).fill(headers["Authorization"].split()[1])
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator("#account-email")).to_have_text("ada@example.com")
        await expect(page.locator("#alert")).to_be_hidden()
        await expect(page.locator("#live")).to_have_text("Live")
        assert errors == []


# What the API's security headers will demand (no inline script, nothing from elsewhere);
# Swagger UI's icons are `data:` images in its CSS.
DOCS_CSP = "default-src 'self'; img-src 'self' data:"


@pytest.mark.parametrize("path", ["/schema", "/schema/swagger"])
async def test_the_api_docs_load_offline_under_a_strict_policy(
    client: httpx.AsyncClient, path: str
) -> None:
    origin = str(client.base_url).rstrip("/")
    spec = (await client.get("/schema/openapi.json")).json()
    operation_ids = [
        operation["operationId"] for item in spec["paths"].values() for operation in item.values()
    ]
    elsewhere: list[str] = []
    console_errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":  # a refused script or style is reported here
            console_errors.append(message.text)

    async def same_origin_only(route: Route) -> None:
        if not route.request.url.startswith(origin + "/"):
            elsewhere.append(route.request.url)
            await route.abort()
            return
        response = await route.fetch()
        headers = {**response.headers, "content-security-policy": DOCS_CSP}
        await route.fulfill(response=response, headers=headers)

    async with chromium() as browser:
        page = await browser.new_page()
        errors = watch_errors(page)
        page.on("console", on_console)
        await page.route("**/*", same_origin_only)
        await page.goto(origin + path)
        await expect(page.locator(".opblock")).to_have_count(len(operation_ids))
        create = page.locator("#operations-exports-createExport")
        await expect(create).to_contain_text("Request an export")
        await expect(page.locator(".info .title")).to_contain_text("Vitae")
    assert elsewhere == []
    assert console_errors == []
    assert errors == []
