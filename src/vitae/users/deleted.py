"""Deleted users, remembered in Redis for a while so that every API process refuses their
tokens at once: each process keeps the users it read for a few seconds (``UserCache``), and
checks this mark before trusting what it kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from vitae.users.models import User
    from vitae.users.service import UserService

PREFIX = "vitae:users:deleted:"
# Far longer than any process keeps a user (``USER_TTL``); after that the store says "gone".
REMEMBER_SECONDS = 300


class DeletedUsers:
    """The ids of users deleted in the last ``REMEMBER_SECONDS``."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def mark(self, user_id: str) -> None:
        """Remember that the user is deleted."""
        await self.redis.set(PREFIX + user_id, b"1", ex=REMEMBER_SECONDS)

    async def contains(self, user_id: str) -> bool:
        """Whether the user was deleted lately."""
        return bool(await self.redis.exists(PREFIX + user_id))


async def delete_user(users: UserService, deleted: DeletedUsers, email: str) -> User | None:
    """Delete the user with that email; from the moment it returns, no process accepts the
    user's tokens. The mark comes first, so no process can cache the user in between.
    """
    user = await users.by_email(email)
    if user is None:
        return None
    await deleted.mark(str(user.id))
    await users.delete(user)
    return user
