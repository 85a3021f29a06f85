"""Photos fetched from a real HTTPS server on loopback (a self-signed certificate made with
`cryptography`, trusted through VITAE_PHOTO_CA_FILE): refused under the default policy,
fetched under the test allowance, and left out with a warning when too large, of the wrong
type, too slow or a redirect."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pdftext import png
from support import (
    MakeUser,
    Services,
    create_resume,
    make_settings,
    running_api,
    running_worker,
    serving,
    wait_for_export,
)
from vitae.rendering.photo import MAX_PHOTO_BYTES
from vitae.settings import Settings

PHOTO = png(48, 48)
TIMEOUT = 1.0
PNG_TYPE = {"Content-Type": "image/png"}
# What the photo server answers, by path: status, headers, body.
ANSWERS: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/me.png": (200, PNG_TYPE, PHOTO),
    "/slow.png": (200, PNG_TYPE, PHOTO),
    "/page.png": (200, {"Content-Type": "text/html; charset=utf-8"}, b"<html>not a photo</html>"),
    "/fake.png": (200, PNG_TYPE, b"GIF89a" + bytes(64)),
    "/moved.png": (302, {"Location": "/me.png"}, b""),
}
NOT_FOUND = (404, {"Content-Type": "text/plain"}, b"not found")


@dataclass
class PhotoServer:
    """An HTTPS server with one route per case; ``paths`` are the requests it received."""

    base: str
    cert_file: Path
    release: threading.Event = field(default_factory=threading.Event)
    paths: list[str] = field(default_factory=list[str])


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key, and the key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "photo-cert.pem", folder / "photo-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture(scope="module")
def photo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PhotoServer]:
    cert_file, key_file = self_signed(tmp_path_factory.mktemp("tls"))
    state: list[PhotoServer] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server = state[0]
            server.paths.append(self.path)
            if self.path == "/huge.png":
                # No Content-Length: the limit can only be kept while reading.
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()
                self.wfile.write(PHOTO)
                for _ in range(MAX_PHOTO_BYTES // 65536 + 4):
                    self.wfile.write(bytes(65536))
                return
            if self.path == "/slow.png":
                server.release.wait(TIMEOUT * 10)  # past the fetch's time limit
            status, headers, body = ANSWERS.get(self.path, NOT_FOUND)
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    port = httpd.server_address[1]
    server = PhotoServer(base=f"https://127.0.0.1:{port}", cert_file=cert_file)
    state.append(server)
    with serving(httpd, server.release):
        yield server


@pytest.fixture(scope="module")
def photo_settings(services: Services, data_dir: Path, photo_server: PhotoServer) -> Settings:
    return make_settings(
        services,
        data_dir,
        VITAE_QUEUE_NAME="photos",
        VITAE_PHOTO_ALLOW_NETWORKS="127.0.0.0/8",
        VITAE_PHOTO_TIMEOUT=str(TIMEOUT),
        VITAE_PHOTO_CA_FILE=str(photo_server.cert_file),
    )


@pytest.fixture(scope="module")
async def allowed(photo_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_api(photo_settings) as client, running_worker(photo_settings):
        yield client


async def export_with_photo(
    client: httpx.AsyncClient, headers: dict[str, str], image: str, template: str = "sidebar"
) -> dict[str, Any]:
    content = {"basics": {"name": "Photo Tester", "image": image}}
    resume = await create_resume(client, headers, content)
    response = await client.post(
        "/api/exports", json={"resumeId": resume["id"], "template": template}, headers=headers
    )
    assert response.status_code == 202, response.text
    done = await wait_for_export(client, headers, response.json()["exportId"])
    assert done["status"] == "completed", done
    return done


async def images_in(client: httpx.AsyncClient, done: dict[str, Any]) -> int:
    response = await client.get(done["fileUrl"])
    assert response.status_code == 200
    return len(re.findall(rb"/Subtype\s*/Image\b", response.content))


@pytest.mark.usefixtures("worker")
async def test_loopback_is_refused_under_the_default_policy(
    client: httpx.AsyncClient, make_user: MakeUser, photo_server: PhotoServer
) -> None:
    headers = await make_user(credits=5)
    done = await export_with_photo(client, headers, f"{photo_server.base}/me.png")

    assert done["warnings"] == [
        "basics.image: left out: the host resolves to a loopback or unspecified address (127.0.0.1)"
    ]
    assert await images_in(client, done) == 0
    listed = await client.get("/api/exports", headers=headers)
    assert listed.json()["items"][0]["warnings"] == done["warnings"]


async def test_a_photo_from_an_allowed_https_server_appears(
    allowed: httpx.AsyncClient, make_user: MakeUser, photo_server: PhotoServer
) -> None:
    headers = await make_user(credits=5)
    for template in ("sidebar", "compact"):
        done = await export_with_photo(allowed, headers, f"{photo_server.base}/me.png", template)
        assert done["warnings"] == []
        assert await images_in(allowed, done) == 1


async def test_a_template_without_a_photo_fetches_nothing(
    allowed: httpx.AsyncClient, make_user: MakeUser, photo_server: PhotoServer
) -> None:
    headers = await make_user(credits=5)
    before = len(photo_server.paths)
    done = await export_with_photo(allowed, headers, f"{photo_server.base}/me.png", "classic")
    assert done["warnings"] == []
    assert len(photo_server.paths) == before


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/huge.png", "the image is larger than 512 KiB"),
        ("/page.png", "the server sent text/html, not image/png or image/jpeg"),
        ("/fake.png", "its bytes are not a PNG image"),
        ("/missing.png", "the server answered HTTP 404"),
        ("/slow.png", f"the server did not send it within {TIMEOUT:g} s"),
        ("/moved.png", "the server answered HTTP 302: redirects are not followed"),
    ],
)
async def test_a_photo_that_cannot_be_had_is_a_warning(
    allowed: httpx.AsyncClient,
    make_user: MakeUser,
    photo_server: PhotoServer,
    path: str,
    reason: str,
) -> None:
    headers = await make_user(credits=5)
    before = len(photo_server.paths)
    done = await export_with_photo(allowed, headers, f"{photo_server.base}{path}")

    assert done["warnings"] == [f"basics.image: left out: {reason}"]
    assert await images_in(allowed, done) == 0
    # One request: a redirect is not followed, nothing is retried.
    assert photo_server.paths[before:] == [path]
