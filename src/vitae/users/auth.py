"""Bearer JWT authentication (Litestar's JWTAuth) with a specific reason on every 401, and
short-lived stream tokens for browsers, whose EventSource cannot send headers.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, override

import jwt
from bson import ObjectId
from litestar.exceptions import NotAuthorizedException
from litestar.security.jwt import JWTAuth, JWTAuthenticationMiddleware, Token
from redis.exceptions import RedisError

from vitae.logs import bind_user
from vitae.users.deleted import DeletedUsers
from vitae.users.models import User
from vitae.users.service import UserService

if TYPE_CHECKING:
    from collections.abc import Sequence

    from litestar.connection import ASGIConnection
    from litestar.middleware.authentication import AuthenticationResult
    from litestar.security.jwt.token import JWTDecodeOptions

ALGORITHM = "HS256"
STREAM_AUDIENCE = "vitae:events"
ALL_EXPORTS = "*"
# Event streams authenticate in their handler: a bearer header or a stream token.
PUBLIC_PATHS = [
    "^/$",
    "^/health",
    "^/ready",
    "^/schema",
    "^/files/",
    "^/static/",
    r"^/api/exports/([^/]+/)?events$",
]


class VitaeToken(Token):
    """Litestar's token, telling an expired token from a forged or malformed one."""

    @override
    @classmethod
    def decode_payload(
        cls,
        encoded_token: str,
        secret: str,
        algorithms: list[str],
        issuer: str | Sequence[str] | None = None,
        audience: str | Sequence[str] | None = None,
        options: JWTDecodeOptions | None = None,
    ) -> Any:
        try:
            return super().decode_payload(
                encoded_token, secret, algorithms, issuer, audience, options
            )
        except jwt.ExpiredSignatureError:
            raise NotAuthorizedException("the bearer token has expired") from None
        except jwt.InvalidSignatureError:
            raise NotAuthorizedException("the bearer token's signature is invalid") from None
        except jwt.DecodeError:
            raise NotAuthorizedException("the bearer token is malformed") from None
        except jwt.InvalidTokenError as error:
            raise NotAuthorizedException(f"the bearer token is invalid: {error}") from None


def bearer_token(header: str) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; any other scheme, or no
    token, is a 401 (``Basic <jwt>`` must not pass as a bearer token).
    """
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token or " " in token:
        raise NotAuthorizedException("the Authorization header must be `Bearer <token>`")
    return token


def require_bearer_audience(token: VitaeToken) -> None:
    """A bearer token has no audience: any ``aud`` (a stream token's, or a list holding it)
    makes it something else.
    """
    if token.aud is not None:
        raise NotAuthorizedException("a token with an audience is not a bearer token")


class BearerOnlyMiddleware(JWTAuthenticationMiddleware):
    """Litestar's JWT middleware, taking the token only from a ``Bearer`` header."""

    @override
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get(self.auth_header)
        if not header:
            raise NotAuthorizedException("No JWT token found in request header")
        return await self.authenticate_token(bearer_token(header), connection)


def issue_stream_token(user_id: str, stream: str, secret: str, *, ttl: int) -> str:
    """A token valid only for one export's event stream (or, with ``*``, the user's)."""
    token = VitaeToken(
        sub=user_id,
        exp=datetime.now(UTC) + timedelta(seconds=ttl),
        aud=STREAM_AUDIENCE,
        extras={"stream": stream},
    )
    return token.encode(secret=secret, algorithm=ALGORITHM)


USER_TTL = 5.0
USER_CACHE_SIZE = 10_000


class UserCache:
    """Users read in the last few seconds, per app instance: a client's requests come in
    bursts (an export is a POST and a stream), and each read is a store round trip. A change
    to a user's credits takes effect within ``USER_TTL``; a deletion at once, as a kept user
    is checked against the deleted users in Redis (a key lookup, cheaper than the store's
    read); users that do not exist are not kept.
    """

    def __init__(self, users: UserService, deleted: DeletedUsers) -> None:
        self.users = users
        self.deleted = deleted
        self._entries: dict[str, tuple[float, User]] = {}

    async def _still_there(self, user_id: str) -> bool:
        """A kept user is trusted unless deleted since; if Redis cannot say, the store will."""
        try:
            return not await self.deleted.contains(user_id)
        except (RedisError, OSError):
            return False

    async def load(self, token: VitaeToken) -> User:
        """The token's user, read at most once per ``USER_TTL`` seconds; a missing user is a
        401, like a bad token.
        """
        now = time.monotonic()
        cached = self._entries.get(token.sub)
        if cached is not None and cached[0] > now and await self._still_there(token.sub):
            user = cached[1]
        else:
            found = await self.users.get(token.sub)
            if found is None:
                self._entries.pop(token.sub, None)
                raise NotAuthorizedException("the bearer token's user does not exist")
            if len(self._entries) >= USER_CACHE_SIZE:
                self._entries.clear()
            self._entries[token.sub] = (now + USER_TTL, found)
            user = found
        bind_user(token.sub)
        return user


def _user_cache(connection: ASGIConnection[Any, Any, Any, Any]) -> UserCache:
    """The app instance's cache (``vitae.wiring.api``)."""
    return connection.app.state.user_cache


async def authenticate_stream(
    connection: ASGIConnection[Any, Any, Any, Any], secret: str, stream: str
) -> ObjectId:
    """Authenticate an event stream and return its user's id: a bearer header (any client),
    or a stream token in the query string, valid for this stream only.

    A stream token's user is not read: the token was minted for that user and that one stream
    at most ``VITAE_STREAM_TOKEN_TTL`` ago, and the stream only reads that user's exports.
    """
    header = connection.headers.get("authorization")
    if header:
        token = VitaeToken.decode(bearer_token(header), secret, ALGORITHM)
        if token.aud == STREAM_AUDIENCE:
            raise NotAuthorizedException("a stream token goes in the query string")
        require_bearer_audience(token)
        return (await _user_cache(connection).load(token)).id
    query_token = connection.query_params.get("token")
    if not query_token:
        raise NotAuthorizedException("No JWT token found in request header or token parameter")
    token = VitaeToken.decode(query_token, secret, ALGORITHM, audience=[STREAM_AUDIENCE])
    if token.aud != STREAM_AUDIENCE:  # exactly: a list that holds it is not a stream token
        raise NotAuthorizedException("the stream token's audience is not the stream's")
    if token.extras.get("stream") != stream or not ObjectId.is_valid(token.sub):
        raise NotAuthorizedException("the stream token is not valid for this stream")
    bind_user(token.sub)
    return ObjectId(token.sub)


def build_jwt_auth(secret: str) -> JWTAuth[User, VitaeToken]:
    """Every route needs a bearer token except health, docs, signed file links and streams."""

    async def retrieve_user(
        token: VitaeToken, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> User:
        if token.aud == STREAM_AUDIENCE:
            raise NotAuthorizedException("a stream token is valid only for its event stream")
        require_bearer_audience(token)
        return await _user_cache(connection).load(token)

    return JWTAuth[User, VitaeToken](
        retrieve_user_handler=retrieve_user,
        token_secret=secret,
        token_cls=VitaeToken,
        algorithm=ALGORITHM,
        authentication_middleware_class=BearerOnlyMiddleware,
        exclude=PUBLIC_PATHS,
        description="A bearer JWT (HS256) as printed by `vitae users create`.",
    )
