"""Routes about the caller's own account."""

from __future__ import annotations

import msgspec
from litestar import Request, get
from litestar.datastructures import State
from litestar.security.jwt import Token

from vitae.http import errors
from vitae.settings import Settings
from vitae.users.auth import ALL_EXPORTS, issue_stream_token
from vitae.users.models import User


class Me(msgspec.Struct, rename="camel", kw_only=True):
    """The authenticated user."""

    id: str
    email: str
    name: str
    credit_balance: int
    events_url: str


@get(
    "/api/users/me",
    tags=["users"],
    summary="Who am I",
    operation_id="getCurrentUser",
    responses=errors(),
)
async def me(request: Request[User, Token, State]) -> Me:
    """The caller's account and credit balance."""
    user = request.user
    settings: Settings = request.app.state.settings
    assert settings.jwt_secret is not None  # noqa: S101  (the API requires it)
    token = issue_stream_token(
        str(user.id), ALL_EXPORTS, settings.jwt_secret, ttl=settings.stream_token_ttl
    )
    return Me(
        id=str(user.id),
        email=user.email,
        name=user.name,
        credit_balance=user.credit_balance,
        events_url=f"/api/exports/events?token={token}",
    )
