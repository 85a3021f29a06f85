"""One error hierarchy for the whole service; ``vitae.app`` maps it to HTTP in one place."""

from __future__ import annotations


class VitaeError(Exception):
    """Base of every error the service raises on purpose; ``message`` is shown to clients."""

    status_code = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ConfigurationError(VitaeError):
    """A setting is missing or malformed; raised at start-up."""


class NotFoundError(VitaeError):
    """The resource does not exist or belongs to someone else (ids must not leak)."""

    status_code = 404


class InvalidRequestError(VitaeError):
    """The request is well-formed JSON but a field's value is not acceptable."""

    status_code = 400


class ConflictError(VitaeError):
    """The resource is not in a state that allows the operation."""

    status_code = 409


class UnprocessableError(VitaeError):
    """The request conflicts with an earlier one (an idempotency key reused with another body)."""

    status_code = 422


class ServiceUnavailableError(VitaeError):
    """A backing service (queue, database, storage) cannot be reached right now."""

    status_code = 503
    retry_after = 5


class ForbiddenError(VitaeError):
    """A signed link is tampered with or expired."""

    status_code = 403


class UnsupportedMediaTypeError(VitaeError):
    """The body is not JSON (its ``Content-Type`` says something else)."""

    status_code = 415


class QuotaExceededError(VitaeError):
    """The user already holds as many of something as the service allows (the limit and the
    setting that raises it are named in the message).
    """

    status_code = 429


class HeadersTooLargeError(VitaeError):
    """The request's header block is larger than the service reads."""

    status_code = 431
