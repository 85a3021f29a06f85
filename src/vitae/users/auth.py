"""Bearer JWT authentication (Litestar's JWTAuth) with a specific reason on every 401."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, override

import jwt
from litestar.exceptions import NotAuthorizedException
from litestar.security.jwt import JWTAuth, Token

from vitae.users.models import User
from vitae.users.service import UserService

if TYPE_CHECKING:
    from collections.abc import Sequence

    from litestar.connection import ASGIConnection
    from litestar.security.jwt.token import JWTDecodeOptions
    from odmantic import AIOEngine

PUBLIC_PATHS = ["^/$", "^/health", "^/schema", "^/files/"]


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


def build_jwt_auth(secret: str) -> JWTAuth[User, VitaeToken]:
    """Every route needs a bearer token except health, the OpenAPI docs and signed file links."""

    async def retrieve_user(
        token: VitaeToken, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> User:
        engine: AIOEngine = connection.app.state.engine
        user = await UserService(engine).get(token.sub)
        if user is None:
            raise NotAuthorizedException("the bearer token's user does not exist")
        return user

    return JWTAuth[User, VitaeToken](
        retrieve_user_handler=retrieve_user,
        token_secret=secret,
        token_cls=VitaeToken,
        algorithm="HS256",
        exclude=PUBLIC_PATHS,
        description="A bearer JWT (HS256) as printed by `vitae users create`.",
    )
