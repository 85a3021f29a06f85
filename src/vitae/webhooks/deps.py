"""Dependency providers for the webhook routes: the services the app's wiring built."""

from __future__ import annotations

from litestar.datastructures import State

from vitae.webhooks.service import WebhookService


def provide_webhook_service(state: State) -> WebhookService:
    """The app's webhook service (``vitae.wiring.api``); it queues, never calls."""
    return state.services.webhooks
