"""The ``vitae`` command: api, worker, dev, ready, users create|token, render.

A foreseeable error (a bad argument, a missing file, an existing e-mail, a server that does
not answer) is one line on stderr and exit status 2; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from vitae.errors import NotFoundError, VitaeError
from vitae.logs import configure_logging, log_level
from vitae.settings import Settings, get_settings

if TYPE_CHECKING:
    from vitae.rendering import TemplateInfo

log = logging.getLogger("vitae")


def _api(settings: Settings, _args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415  (only the API needs the server)

    from vitae.serving import server_options  # noqa: PLC0415  (only the API serves HTTP)

    settings.require("redis_url", "mongodb_url")
    settings.require_signing_secret()
    # uvicorn re-raises SIGTERM after its graceful shutdown; as KeyboardInterrupt it is
    # swallowed by uvicorn.run, so a stopped API exits 0 like the worker.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    uvicorn.run(
        "vitae.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
        log_level="info",
        log_config=None,  # keep the structured logging configured in main()
        access_log=False,  # its lines carry query strings (stream tokens, signed links)
        **server_options(settings),
    )
    return 0


def _worker(settings: Settings, _args: argparse.Namespace) -> int:
    from vitae.worker import run_worker  # noqa: PLC0415

    settings.require("redis_url", "mongodb_url")
    asyncio.run(run_worker(settings))
    return 0


def _ready(settings: Settings, _args: argparse.Namespace) -> int:
    from vitae.wiring import probe  # noqa: PLC0415

    checks = asyncio.run(probe(settings))
    print(json.dumps(checks))  # noqa: T201
    return 0 if all(value == "ok" for value in checks.values()) else 1


def _dev(_settings: Settings, _args: argparse.Namespace) -> int:
    from vitae.dev import run_dev  # noqa: PLC0415

    return run_dev()


async def create_user(
    settings: Settings, email: str, name: str, credit_balance: int, *, admin: bool = False
) -> tuple[str, str]:
    """Create a user in the configured database; returns its id and a bearer token."""
    from vitae import wiring  # noqa: PLC0415
    from vitae.users import user_token  # noqa: PLC0415

    settings.require("mongodb_url", "jwt_secret")
    async with wiring.command(settings) as users:
        user = await users.create(email, name=name, credit_balance=credit_balance, admin=admin)
    return str(user.id), user_token(user, settings)


async def token_for(settings: Settings, email: str) -> str:
    """A new bearer token for an existing user, found by e-mail."""
    from vitae import wiring  # noqa: PLC0415
    from vitae.users import user_token  # noqa: PLC0415

    settings.require("mongodb_url", "jwt_secret")
    async with wiring.command(settings) as users:
        user = await users.by_email(email)
    if user is None:
        raise NotFoundError(
            f"no user with e-mail {email}: create one with `vitae users create --email {email}`"
        )
    return user_token(user, settings)


def _users_create(settings: Settings, args: argparse.Namespace) -> int:
    user_id, token = asyncio.run(
        create_user(settings, args.email, args.name, args.credits, admin=args.admin)
    )
    role = " (admin)" if args.admin else ""
    print(f"created user {user_id} <{args.email}>{role} with {args.credits} credit(s)")  # noqa: T201
    print("bearer token (last line):")  # noqa: T201
    print(token)  # noqa: T201
    return 0


async def delete_user(settings: Settings, email: str) -> str | None:
    """Delete a user; every API process refuses its tokens from then on. Its id, or None."""
    from vitae import wiring  # noqa: PLC0415
    from vitae.users.deleted import delete_user as delete  # noqa: PLC0415

    async with wiring.user_deletion(settings) as (users, deleted):
        user = await delete(users, deleted, email)
    return str(user.id) if user is not None else None


def _users_delete(settings: Settings, args: argparse.Namespace) -> int:
    user_id = asyncio.run(delete_user(settings, args.email))
    if user_id is None:
        print(f"no user <{args.email}>", file=sys.stderr)  # noqa: T201
        return 1
    print(f"deleted user {user_id} <{args.email}>; its tokens are refused")  # noqa: T201
    return 0


def _users_token(settings: Settings, args: argparse.Namespace) -> int:
    print(asyncio.run(token_for(settings, args.email)))  # noqa: T201  (the token alone, for $(…))
    return 0


def _read_resume(path: Path) -> dict[str, Any]:
    """A JSON Resume file's document, checked as the API checks it."""
    from vitae.resumes.jsonresume import JsonResume  # noqa: PLC0415

    try:
        raw = path.read_bytes()
    except OSError as error:
        raise VitaeError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        msgspec.json.decode(raw, type=JsonResume)
        document = msgspec.json.decode(raw)
    except msgspec.ValidationError as error:
        raise VitaeError(f"{path} is not a valid JSON Resume: {error}") from None
    except msgspec.DecodeError as error:
        raise VitaeError(f"{path} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise VitaeError(f"{path} is not a JSON Resume: it is not an object")
    return document  # pyright: ignore[reportUnknownVariableType]


def _template(settings: Settings, name: str) -> TemplateInfo:
    """The template called ``name``; the error lists the known ones."""
    from vitae.rendering import UnknownTemplateError, find_template, list_templates  # noqa: PLC0415

    try:
        return find_template(settings.templates_dir, name)
    except UnknownTemplateError:
        names = ", ".join(t.name for t in list_templates(settings.templates_dir)) or "none"
        raise VitaeError(f"unknown template {name!r}; the templates are: {names}") from None


def option_pair(text: str) -> tuple[str, str]:
    """``--option name=value``, as in an export's ``options`` (``paperSize`` included)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    return name.strip(), value.strip()


def _option_values(template: TemplateInfo, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Each option's value as the API takes it: an ``order`` is a comma-separated list."""
    values: dict[str, Any] = {}
    for name, value in pairs:
        option = template.option(name)
        values[name] = (
            [item.strip() for item in value.split(",") if item.strip()]
            if option is not None and option.type == "order"
            else value
        )
    return values


def _render(settings: Settings, args: argparse.Namespace) -> int:
    from vitae.rendering import (  # noqa: PLC0415
        RenderOptions,
        render_pdf,
        validate_options,
        validate_paper_size,
    )
    from vitae.rendering.catalog import PAPER_OPTION  # noqa: PLC0415

    resume = _read_resume(Path(args.resume))
    template = _template(settings, args.template)
    options = _option_values(template, args.option)
    paper_size = validate_paper_size(template, options.pop(PAPER_OPTION, args.paper))
    render_options = RenderOptions(
        template=template.name,
        paper_size=paper_size,
        watermark=args.watermark,
        options=validate_options(template, options),
    )
    pdf = render_pdf(resume, render_options, templates_dir=settings.templates_dir)
    try:
        Path(args.output).write_bytes(pdf)
    except OSError as error:
        raise VitaeError(f"cannot write {args.output}: {error.strerror or error}") from None
    print(f"wrote {args.output} ({len(pdf)} bytes)")  # noqa: T201
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line."""
    root = argparse.ArgumentParser(prog="vitae", description="Résumés to PDFs, asynchronously.")
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("api", help="run the HTTP API").set_defaults(run=_api)
    commands.add_parser("worker", help="run an export worker").set_defaults(run=_worker)
    commands.add_parser(
        "ready", help="exit 0 if MongoDB, Redis and the storage answer (a container healthcheck)"
    ).set_defaults(run=_ready)
    commands.add_parser(
        "dev", help="run everything locally, starting embedded servers where no URL is set"
    ).set_defaults(run=_dev)
    users = commands.add_parser("users", help="manage users").add_subparsers(
        dest="users_command", required=True
    )
    create = users.add_parser("create", help="create a user and print a bearer token")
    create.add_argument("--email", required=True)
    create.add_argument("--name", default="")
    create.add_argument("--credits", type=int, default=0, help="paid-export credits (default 0)")
    create.add_argument("--admin", action="store_true", help="may see the queue view")
    create.set_defaults(run=_users_create)
    token = users.add_parser(
        "token", help="print a new bearer token for an existing user (the token only)"
    )
    token.add_argument("--email", required=True)
    token.set_defaults(run=_users_token)
    remove = users.add_parser(
        "delete", help="delete a user; its tokens are refused at once by every API process"
    )
    remove.add_argument("--email", required=True)
    remove.set_defaults(run=_users_delete)
    render = commands.add_parser("render", help="render a JSON Resume file to PDF locally")
    render.add_argument("resume", help="a JSON Resume file")
    render.add_argument("-t", "--template", default="classic")
    render.add_argument("-o", "--output", default="resume.pdf")
    render.add_argument("--paper", choices=["a4", "letter"], default="a4")
    render.add_argument("--watermark", action="store_true")
    render.add_argument(
        "--option",
        metavar="NAME=VALUE",
        type=option_pair,
        action="append",
        default=[],
        help="a template option, as in an export (paperSize=letter, accentColor=#336699, "
        "sectionOrder=skills,work); `GET /api/templates` lists them; repeatable",
    )
    render.set_defaults(run=_render)
    return root


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vitae`` script."""
    args = parser().parse_args(argv)
    # JSON for machines unless asked otherwise; the dev launcher talks to a person.
    fmt = os.environ.get("VITAE_LOG_FORMAT") or ("console" if args.command == "dev" else None)
    try:
        level = log_level(os.environ.get("VITAE_LOG_LEVEL"))
    except ValueError as error:
        print(f"vitae: VITAE_LOG_LEVEL: {error}", file=sys.stderr)  # noqa: T201
        return 2
    configure_logging("json" if fmt == "json" else "console" if fmt == "console" else None, level)
    from vitae.rendering import RenderError  # noqa: PLC0415

    try:
        code: int = args.run(get_settings(), args)
    except (VitaeError, RenderError) as error:
        return _fail(error.message)
    except PyMongoError as error:
        return _fail(f"MongoDB did not answer ({type(error).__name__}): {_first_line(error)}")
    except RedisError as error:
        return _fail(f"Redis did not answer ({type(error).__name__}): {_first_line(error)}")
    except KeyboardInterrupt:
        return 130
    return code


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [""])[0][:300]


def _fail(message: str) -> int:
    """One line on stderr, exit status 2."""
    print(f"vitae: {message}", file=sys.stderr)  # noqa: T201
    return 2
