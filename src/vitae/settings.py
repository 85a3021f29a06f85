"""Settings read once from the environment (``VITAE_*``), a ``.env`` file and the dev state file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from vitae.errors import ConfigurationError

if TYPE_CHECKING:
    from vitae.rendering.settings import RenderSettings

PREFIX = "VITAE_"
DEV_ENV_FILE = "dev.env"
# HS256 wants a key at least as long as its 256-bit output.
MIN_JWT_SECRET_BYTES = 32
# Secrets that were ever written into the project's own files (examples, an old compose
# default, old test fixtures): public, so a service signing with one is open to anyone.
# tests/unit/test_settings.py scans the project's files and fails on a literal missing here.
PUBLISHED_JWT_SECRETS = frozenset(
    {
        "change-me-to-a-long-random-secret-in-production",
        "test-secret-of-sufficient-length-for-hs256",
    }
)

type StorageBackend = Literal["local", "s3"]


def read_env_file(path: Path) -> dict[str, str]:
    """Parse ``KEY=value`` lines; comments and blank lines are skipped."""
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def load_environment() -> dict[str, str]:
    """Merge the sources, strongest first: the process environment, ``.env``, then the file
    that a running ``vitae dev`` writes so that commands run from the checkout reach it.
    """
    dotenv = read_env_file(Path(".env"))
    data_dir = Path(os.environ.get("VITAE_DATA_DIR") or dotenv.get("VITAE_DATA_DIR") or ".vitae")
    merged = read_env_file(data_dir / DEV_ENV_FILE)
    merged.update(dotenv)
    merged.update({k: v for k, v in os.environ.items() if k.startswith(PREFIX)})
    return merged


class _Reader:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def str(self, name: str, default: str | None = None) -> str | None:
        value = self.env.get(PREFIX + name, "").strip()
        return value or default

    def int(self, name: str, default: int) -> int:
        raw = self.str(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise ConfigurationError(f"{PREFIX}{name} must be an integer, got {raw!r}") from None

    def bool(self, name: str, *, default: bool) -> bool:
        raw = self.str(name)
        if raw is None:
            return default
        if raw.lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.lower() in {"0", "false", "no", "off"}:
            return False
        raise ConfigurationError(f"{PREFIX}{name} must be true or false, got {raw!r}")

    def list(self, name: str) -> tuple[str, ...]:
        return tuple(item.strip() for item in (self.str(name) or "").split(",") if item.strip())

    def float(self, name: str, default: float) -> float:
        raw = self.str(name)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise ConfigurationError(f"{PREFIX}{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True, slots=True)
class S3Settings:
    """Where exported PDFs go when ``VITAE_STORAGE=s3``."""

    bucket: str
    endpoint_url: str | None
    public_endpoint_url: str | None
    region: str
    access_key_id: str | None
    secret_access_key: str | None


@dataclass(frozen=True, slots=True)
class JobSettings:
    """Export job options; the defaults are the product story's."""

    attempts: int = 3
    retry_delay: float = 1.0
    timeout: int = 30
    heartbeat: int = 10
    retention: int = 86_400
    sweep_interval: int = 15
    reconcile_after: int = 120
    retention_days: int = 30
    metrics_port: int = 0
    concurrency: int = 10
    progress_after: float = 0.1


# Seconds of a job's timeout kept for storing the PDF and recording the outcome.
STORE_MARGIN = 5.0


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Webhook deliveries: who may be called, how long an attempt may take, how retries space."""

    allow_http: bool = False
    allow_networks: tuple[str, ...] = ()
    timeout: float = 5.0
    attempts: int = 10
    retry_delay: float = 10.0
    max_delay: float = 3600.0
    concurrency: int = 20
    per_host: int = 4


@dataclass(frozen=True, slots=True)
class PhotoSettings:
    """Fetching an ``https`` ``basics.image`` before a render: who may be called (the webhooks'
    address policy, with allowances of its own) and what one fetch may cost.
    """

    allow_http: bool = False
    allow_networks: tuple[str, ...] = ()
    timeout: float = 5.0
    # PEM certificates trusted instead of the certifi bundle (a private CA in development).
    ca_file: Path | None = None


@dataclass(frozen=True, slots=True)
class QuotaSettings:
    """What one user may hold at once, and how large a request may be (README: Limits)."""

    streams_per_user: int = 20
    resumes_per_user: int = 500
    max_header_bytes: int = 32 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the API, the worker and the CLI are configured with."""

    redis_url: str | None
    mongodb_url: str | None
    mongodb_database: str
    mongodb_timeout: float
    jwt_secret: str | None
    token_ttl_days: int
    data_dir: Path
    host: str
    port: int
    metrics_port: int
    public_url: str
    storage: StorageBackend
    s3: S3Settings
    url_expiry: int
    paid_export_threshold: int
    templates_dir: Path
    jobs: JobSettings
    render: RenderSettings
    webhooks: WebhookSettings
    photos: PhotoSettings
    queue_name: str
    sse_heartbeat: float
    stream_token_ttl: int
    exports_per_minute: int
    quotas: QuotaSettings

    def require(self, *names: Literal["redis_url", "mongodb_url", "jwt_secret"]) -> None:
        """Refuse to start when a needed setting is missing, naming its variable."""
        missing = [PREFIX + n.upper() for n in names if not getattr(self, n)]
        if missing:
            raise ConfigurationError(f"missing setting(s): {', '.join(missing)}")

    def require_signing_secret(self) -> str:
        """The JWT secret, refused when missing, short or published (anyone could sign
        tokens for any user with it).
        """
        self.require("jwt_secret")
        secret = self.jwt_secret or ""
        check_jwt_secret(secret)
        return secret


def check_jwt_secret(secret: str) -> None:
    """Refuse a signing secret that is too short or appears in the project's own files."""
    name = PREFIX + "JWT_SECRET"
    if len(secret.encode()) < MIN_JWT_SECRET_BYTES:
        raise ConfigurationError(
            f"{name} must be at least {MIN_JWT_SECRET_BYTES} bytes of random text "
            "(e.g. `openssl rand -hex 32`)"
        )
    if secret in PUBLISHED_JWT_SECRETS:
        raise ConfigurationError(
            f"{name} is a published example value; generate your own (`openssl rand -hex 32`)"
        )


def settings_from_env(env: dict[str, str]) -> Settings:
    """Build settings from a mapping of ``VITAE_*`` variables."""
    from vitae.rendering import default_templates_dir  # noqa: PLC0415  (keeps settings import-light)

    read = _Reader(env)
    storage = read.str("STORAGE", "local")
    if storage not in {"local", "s3"}:
        raise ConfigurationError(f"VITAE_STORAGE must be 'local' or 's3', got {storage!r}")
    host = read.str("HOST", "127.0.0.1") or "127.0.0.1"
    port = read.int("PORT", 8000)
    job_timeout = read.int("JOB_TIMEOUT", 30)
    render = render_settings(read, job_timeout)
    return Settings(
        redis_url=read.str("REDIS_URL"),
        mongodb_url=read.str("MONGODB_URL"),
        mongodb_database=read.str("MONGODB_DATABASE", "vitae") or "vitae",
        mongodb_timeout=read.float("MONGODB_TIMEOUT", 3.0),
        jwt_secret=read.str("JWT_SECRET"),
        token_ttl_days=read.int("TOKEN_TTL_DAYS", 30),
        data_dir=Path(read.str("DATA_DIR", ".vitae") or ".vitae").resolve(),
        host=host,
        port=port,
        metrics_port=read.int("API_METRICS_PORT", 0),
        public_url=(read.str("PUBLIC_URL") or f"http://{host}:{port}").rstrip("/"),
        storage="s3" if storage == "s3" else "local",
        s3=S3Settings(
            bucket=read.str("S3_BUCKET", "vitae-exports") or "vitae-exports",
            endpoint_url=read.str("S3_ENDPOINT_URL"),
            public_endpoint_url=read.str("S3_PUBLIC_ENDPOINT_URL"),
            region=read.str("S3_REGION", "us-east-1") or "us-east-1",
            access_key_id=read.str("S3_ACCESS_KEY_ID"),
            secret_access_key=read.str("S3_SECRET_ACCESS_KEY"),
        ),
        url_expiry=read.int("URL_EXPIRY", 900),
        paid_export_threshold=read.int("PAID_EXPORT_THRESHOLD", 1),
        templates_dir=Path(read.str("TEMPLATES_DIR") or default_templates_dir()),
        queue_name=read.str("QUEUE_NAME", "exports") or "exports",
        sse_heartbeat=read.float("SSE_HEARTBEAT", 15.0),
        stream_token_ttl=read.int("STREAM_TOKEN_TTL", 600),
        exports_per_minute=read.int("EXPORTS_PER_MINUTE", 60),
        quotas=QuotaSettings(
            streams_per_user=read.int("STREAMS_PER_USER", 20),
            resumes_per_user=read.int("RESUMES_PER_USER", 500),
            max_header_bytes=read.int("MAX_HEADER_BYTES", 32 * 1024),
        ),
        jobs=JobSettings(
            attempts=read.int("JOB_ATTEMPTS", 3),
            retry_delay=read.float("JOB_RETRY_DELAY", 1.0),
            timeout=job_timeout,
            heartbeat=read.int("JOB_HEARTBEAT", 10),
            retention=read.int("JOB_RETENTION", 86_400),
            sweep_interval=read.int("SWEEP_INTERVAL", 15),
            reconcile_after=read.int("RECONCILE_AFTER", 120),
            retention_days=read.int("RETENTION_DAYS", 30),
            metrics_port=read.int("WORKER_METRICS_PORT", 0),
            concurrency=read.int("WORKER_CONCURRENCY", 10),
            progress_after=read.float("PROGRESS_AFTER", 0.1),
        ),
        render=render,
        webhooks=WebhookSettings(
            allow_http=read.bool("WEBHOOK_ALLOW_HTTP", default=False),
            allow_networks=read.list("WEBHOOK_ALLOW_NETWORKS"),
            timeout=read.float("WEBHOOK_TIMEOUT", 5.0),
            attempts=read.int("WEBHOOK_ATTEMPTS", 10),
            retry_delay=read.float("WEBHOOK_RETRY_DELAY", 10.0),
            max_delay=read.float("WEBHOOK_MAX_DELAY", 3600.0),
            concurrency=read.int("WEBHOOK_CONCURRENCY", 20),
            per_host=read.int("WEBHOOK_PER_HOST", 4),
        ),
        photos=PhotoSettings(
            allow_http=read.bool("PHOTO_ALLOW_HTTP", default=False),
            allow_networks=read.list("PHOTO_ALLOW_NETWORKS"),
            timeout=photo_timeout(read, render.wait),
            ca_file=Path(ca_file) if (ca_file := read.str("PHOTO_CA_FILE")) else None,
        ),
    )


def photo_timeout(read: _Reader, render_wait: float) -> float:
    """Seconds a photo fetch may take: it comes out of the render's wait for a process
    (``vitae.exports.jobs``), so it may not be longer than that wait.
    """
    timeout = read.float("PHOTO_TIMEOUT", min(5.0, render_wait))
    if not 0 < timeout <= render_wait:
        raise ConfigurationError(
            f"{PREFIX}PHOTO_TIMEOUT ({timeout:g} s) must be positive and at most "
            f"{PREFIX}RENDER_WAIT ({render_wait:g} s): a photo's fetch spends the render's wait"
        )
    return timeout


def render_settings(read: _Reader, job_timeout: int) -> RenderSettings:
    """The render limits; refused when a render could outlive its job (SAQ would cancel the
    job and retry it, instead of failing it once with the reason).
    """
    from vitae.rendering.settings import RenderSettings  # noqa: PLC0415  (import-light)

    # By default 20 s of compile and 5 s of wait, or 80 % and 20 % of a shorter budget.
    budget = job_timeout - STORE_MARGIN
    timeout = read.float("RENDER_TIMEOUT", min(20.0, budget * 0.8))
    wait = read.float("RENDER_WAIT", max(min(5.0, budget - timeout), 0.0))
    if timeout <= 0 or wait < 0 or timeout + wait > budget:
        raise ConfigurationError(
            f"{PREFIX}RENDER_TIMEOUT ({timeout:g} s) plus {PREFIX}RENDER_WAIT ({wait:g} s) must "
            f"be positive and leave {STORE_MARGIN:g} s of {PREFIX}JOB_TIMEOUT ({job_timeout} s)"
        )
    return RenderSettings(
        # VITAE_RENDER_THREADS is the name from before render processes.
        processes=read.int("RENDER_PROCESSES", read.int("RENDER_THREADS", 0)),
        timeout=timeout,
        memory_mb=read.int("RENDER_MEMORY_MB", 1024),
        max_pages=read.int("RENDER_MAX_PAGES", 40),
        wait=wait,
    )


@cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return settings_from_env(load_environment())
