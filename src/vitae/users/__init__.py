"""Users: who may call the API and how many paid exports they have."""

from vitae.users.models import User
from vitae.users.service import UserService, issue_token, user_token

__all__ = ["User", "UserService", "issue_token", "user_token"]
