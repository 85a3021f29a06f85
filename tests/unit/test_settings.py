"""Settings from ``VITAE_*`` variables, ``.env`` and the dev state file."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import pytest

from vitae.errors import ConfigurationError
from vitae.settings import check_jwt_secret, load_environment, settings_from_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bare(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No ``VITAE_*`` variable in the environment, and an empty working directory."""
    for name in list(os.environ):
        if name.startswith("VITAE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults(bare: Path) -> None:
    settings = settings_from_env({})
    assert settings.port == 8000
    assert settings.host == "127.0.0.1"
    assert settings.public_url == "http://127.0.0.1:8000"
    assert settings.storage == "local"
    assert settings.paid_export_threshold == 1
    assert settings.url_expiry == 900
    assert settings.jobs.attempts == 3
    assert settings.jobs.timeout == 30
    assert settings.jobs.retry_delay == 1.0
    assert settings.queue_name == "exports"
    assert settings.mongodb_database == "vitae"
    assert (settings.redis_url, settings.mongodb_url, settings.jwt_secret) == (None, None, None)
    assert settings.data_dir == bare / ".vitae"
    assert settings.data_dir.is_absolute()
    assert (settings.templates_dir / "classic").is_dir()


def test_values_are_read_and_blank_ones_fall_back_to_defaults(bare: Path) -> None:
    settings = settings_from_env(
        {
            "VITAE_PORT": "9001",
            "VITAE_HOST": "localhost",
            "VITAE_PUBLIC_URL": "https://cv.example.com/",
            "VITAE_STORAGE": "s3",
            "VITAE_S3_BUCKET": "pdfs",
            "VITAE_JOB_RETRY_DELAY": "0.5",
            "VITAE_PAID_EXPORT_THRESHOLD": "  ",
            "VITAE_REDIS_URL": "",
        }
    )
    assert settings.port == 9001
    assert settings.host == "localhost"
    assert settings.public_url == "https://cv.example.com"
    assert settings.storage == "s3"
    assert settings.s3.bucket == "pdfs"
    assert settings.jobs.retry_delay == 0.5
    assert settings.paid_export_threshold == 1
    assert settings.redis_url is None


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("VITAE_PORT", "eighty", "must be an integer"),
        ("VITAE_JOB_ATTEMPTS", "3.5", "must be an integer"),
        ("VITAE_URL_EXPIRY", "15m", "must be an integer"),
        ("VITAE_PAID_EXPORT_THRESHOLD", "one", "must be an integer"),
        ("VITAE_JOB_RETRY_DELAY", "soon", "must be a number"),
    ],
)
def test_a_malformed_number_names_the_variable(
    bare: Path, name: str, value: str, words: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        settings_from_env({name: value})
    assert name in raised.value.message
    assert repr(value) in raised.value.message
    assert words in raised.value.message


def test_render_limits_fit_in_the_job_timeout(bare: Path) -> None:
    render = settings_from_env({}).render
    assert (render.processes, render.timeout, render.wait) == (0, 20.0, 5.0)
    assert (render.memory_mb, render.max_pages) == (1024, 40)
    short = settings_from_env({"VITAE_JOB_TIMEOUT": "10"}).render
    assert (short.timeout, short.wait) == (4.0, 1.0)
    assert settings_from_env({"VITAE_RENDER_THREADS": "3"}).render.processes == 3
    for env in (
        {"VITAE_RENDER_TIMEOUT": "26"},
        {"VITAE_RENDER_TIMEOUT": "20", "VITAE_RENDER_WAIT": "6"},
        {"VITAE_JOB_TIMEOUT": "5"},
    ):
        with pytest.raises(ConfigurationError) as raised:
            settings_from_env(env)
        assert "VITAE_RENDER_TIMEOUT" in raised.value.message, env
        assert "VITAE_JOB_TIMEOUT" in raised.value.message, env


def test_a_photo_fetch_fits_in_the_render_wait(bare: Path) -> None:
    assert settings_from_env({}).photos.timeout == 5.0
    assert settings_from_env({"VITAE_JOB_TIMEOUT": "10"}).photos.timeout == 1.0
    assert settings_from_env({"VITAE_PHOTO_TIMEOUT": "2.5"}).photos.timeout == 2.5
    for env in ({"VITAE_PHOTO_TIMEOUT": "6"}, {"VITAE_PHOTO_TIMEOUT": "0"}):
        with pytest.raises(ConfigurationError) as raised:
            settings_from_env(env)
        assert "VITAE_PHOTO_TIMEOUT" in raised.value.message, env
        assert "VITAE_RENDER_WAIT (5 s)" in raised.value.message, env


def test_unknown_storage_backend_is_refused(bare: Path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        settings_from_env({"VITAE_STORAGE": "ftp"})
    assert "VITAE_STORAGE" in raised.value.message
    assert "'ftp'" in raised.value.message


def test_require_names_every_missing_variable(bare: Path) -> None:
    settings = settings_from_env({"VITAE_REDIS_URL": "redis://localhost:6379/0"})
    with pytest.raises(ConfigurationError) as raised:
        settings.require("redis_url", "mongodb_url", "jwt_secret")
    message = raised.value.message
    assert "VITAE_MONGODB_URL" in message
    assert "VITAE_JWT_SECRET" in message
    assert "VITAE_REDIS_URL" not in message

    settings.require("redis_url")  # present: no error
    with pytest.raises(ConfigurationError, match="VITAE_REDIS_URL, VITAE_MONGODB_URL"):
        settings_from_env({}).require("redis_url", "mongodb_url")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_precedence_environment_then_dotenv_then_dev_state(
    bare: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        bare / ".env",
        "# a comment\n"
        "\n"
        "VITAE_DATA_DIR=state\n"
        "VITAE_PORT=2002\n"
        "VITAE_QUEUE_NAME='from-dotenv'\n"
        'VITAE_JWT_SECRET="dotenv-secret"\n'
        "not a setting\n",
    )
    write(
        bare / "state" / "dev.env",
        "VITAE_PORT=3003\n"
        "VITAE_QUEUE_NAME=from-dev-state\n"
        "VITAE_REDIS_URL=redis://127.0.0.1:6390/0\n"
        "VITAE_JWT_SECRET=dev-secret\n",
    )
    monkeypatch.setenv("VITAE_PORT", "1001")
    monkeypatch.setenv("NOT_VITAE", "ignored")

    env = load_environment()
    assert env["VITAE_PORT"] == "1001"  # the process environment wins
    assert env["VITAE_QUEUE_NAME"] == "from-dotenv"  # then .env (quotes stripped)
    assert env["VITAE_JWT_SECRET"] == "dotenv-secret"
    assert env["VITAE_REDIS_URL"] == "redis://127.0.0.1:6390/0"  # then the dev state file
    assert "NOT_VITAE" not in env
    assert all(name.startswith("VITAE_") for name in env)

    settings = settings_from_env(env)
    assert settings.port == 1001
    assert settings.queue_name == "from-dotenv"
    assert settings.redis_url == "redis://127.0.0.1:6390/0"
    assert settings.data_dir == bare / "state"

    monkeypatch.delenv("VITAE_PORT")
    assert load_environment()["VITAE_PORT"] == "2002"
    (bare / ".env").unlink()
    env = load_environment()
    # Without .env the data dir is the default one, whose (absent) state file gives nothing.
    assert env == {}


def test_the_environments_data_dir_locates_the_dev_state_file(
    bare: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(bare / ".env", "VITAE_DATA_DIR=from-dotenv\n")
    write(bare / "from-dotenv" / "dev.env", "VITAE_MONGODB_URL=mongodb://dotenv-dir\n")
    write(bare / "elsewhere" / "dev.env", "VITAE_MONGODB_URL=mongodb://env-dir\n")
    monkeypatch.setenv("VITAE_DATA_DIR", str(bare / "elsewhere"))
    assert load_environment()["VITAE_MONGODB_URL"] == "mongodb://env-dir"
    monkeypatch.delenv("VITAE_DATA_DIR")
    assert load_environment()["VITAE_MONGODB_URL"] == "mongodb://dotenv-dir"


def test_default_data_dir_state_file_is_read(bare: Path) -> None:
    write(bare / ".vitae" / "dev.env", "VITAE_REDIS_URL=redis://127.0.0.1:7000/0\n")
    assert load_environment() == {"VITAE_REDIS_URL": "redis://127.0.0.1:7000/0"}


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("", "missing"),
        ("short-but-not-empty", "at least 32 bytes"),
        ("x" * 31, "at least 32 bytes"),
        ("change-me-to-a-long-random-secret-in-production", "published"),
        ("test-secret-of-sufficient-length-for-hs256", "published"),
    ],
)
def test_signing_secret_is_refused_when_weak(bare: Path, secret: str, reason: str) -> None:
    settings = settings_from_env({"VITAE_JWT_SECRET": secret})
    with pytest.raises(ConfigurationError) as raised:
        settings.require_signing_secret()
    assert "VITAE_JWT_SECRET" in raised.value.message
    assert reason in raised.value.message


def test_a_generated_signing_secret_is_accepted(bare: Path) -> None:
    secret = secrets.token_hex(32)
    assert settings_from_env({"VITAE_JWT_SECRET": secret}).require_signing_secret() == secret


# `VITAE_JWT_SECRET=value`, `"VITAE_JWT_SECRET": "value"`, `VITAE_JWT_SECRET: value` and
# `jwt_secret="value"`, in any file; values computed at run time are not literals.
SECRET_LITERAL = re.compile(
    r"""(?:VITAE_JWT_SECRET|jwt_secret)["']?\s*[:=]\s*["']?(?P<value>[^"'\s,)}]+)""",
)
COMPUTED = ("$", "%", "secrets.", "_dev_secret", "settings.", "<", "read.", "None", "secret")


# Folders of the checkout that are not the project's own files.
NOT_OURS = {".git", ".venv", "node_modules", ".vitae", "test-artifacts", "__pycache__"}


def project_files() -> list[Path]:
    found: list[Path] = []
    for folder, subfolders, files in ROOT.walk():
        # Not descended into at all: the virtual environment alone holds tens of thousands
        # of files.
        subfolders[:] = [name for name in subfolders if name not in NOT_OURS]
        found.extend(folder / name for name in files)
    return found


def test_no_secret_written_in_the_project_can_sign_tokens() -> None:
    seen: dict[str, str] = {}
    for path in project_files():
        if path.suffix not in {".py", ".md", ".yaml", ".yml", ".toml", ".env", ".sh", ""}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in SECRET_LITERAL.finditer(text):
            value = match["value"]
            if not value.startswith(COMPUTED):
                seen[value] = str(path.relative_to(ROOT))
    assert seen, "the scan found no literal at all: the pattern no longer matches the files"
    accepted: list[str] = []
    for value, where in seen.items():
        try:
            check_jwt_secret(value)
        except ConfigurationError:
            continue
        accepted.append(f"{where}: {value} (add it to PUBLISHED_JWT_SECRETS)")
    assert not accepted
