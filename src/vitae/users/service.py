"""User operations shared by the API (authentication) and the CLI (creation)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bson import ObjectId
from bson.errors import InvalidId
from litestar.security.jwt import Token
from odmantic.exceptions import DuplicateKeyError as ModelDuplicateKeyError
from pymongo.errors import DuplicateKeyError

from vitae.db import find_by_id
from vitae.errors import ConflictError, InvalidRequestError
from vitae.users.models import User

if TYPE_CHECKING:
    from odmantic import AIOEngine

    from vitae.settings import Settings


def issue_token(user_id: str, secret: str, *, ttl: timedelta) -> str:
    """A signed HS256 bearer token whose subject is the user's id."""
    token = Token(sub=user_id, exp=datetime.now(UTC) + ttl)
    return token.encode(secret=secret, algorithm="HS256")


def user_token(user: User, settings: Settings) -> str:
    """A bearer token for the user, valid for ``VITAE_TOKEN_TTL_DAYS``."""
    settings.require("jwt_secret")
    assert settings.jwt_secret is not None  # noqa: S101  (narrowed by require)
    return issue_token(
        str(user.id), settings.jwt_secret, ttl=timedelta(days=settings.token_ttl_days)
    )


class UserService:
    """Reads and writes ``users``."""

    def __init__(self, engine: AIOEngine) -> None:
        self.engine = engine

    async def create(
        self, email: str, *, name: str = "", credit_balance: int = 0, admin: bool = False
    ) -> User:
        """Create a user; the email must be new."""
        email = email.strip().lower()
        if "@" not in email:
            raise InvalidRequestError(f"not an email address: {email!r}", field="email")
        if credit_balance < 0:
            raise InvalidRequestError("credits cannot be negative", field="credits")
        user = User(  # pyright: ignore[reportCallIssue]  (ODMantic generates the id)
            email=email,
            name=name or email.split("@", 1)[0],
            credit_balance=credit_balance,
            is_admin=admin,
        )
        try:
            return await self.engine.save(user)
        # ODMantic wraps the driver's error in its own (both seen, by version).
        except (DuplicateKeyError, ModelDuplicateKeyError):
            raise ConflictError(f"a user with email {email} exists", field="email") from None

    async def get_or_create(self, email: str, *, name: str, credit_balance: int) -> User:
        """The user with that email, created first if there is none (the dev instance's)."""
        return await self.by_email(email) or await self.create(
            email, name=name, credit_balance=credit_balance
        )

    async def by_email(self, email: str) -> User | None:
        """The user with that email, or ``None``."""
        return await self.engine.find_one(User, User.email == email.strip().lower())

    async def get(self, user_id: str) -> User | None:
        """The user with that id, or ``None``."""
        try:
            oid = ObjectId(user_id)
        except (InvalidId, TypeError):
            return None
        return await find_by_id(self.engine, User, oid)

    async def delete(self, user: User) -> None:
        """Delete the user's record (its tokens: ``vitae.users.deleted.delete_user``)."""
        await self.engine.delete(user)
