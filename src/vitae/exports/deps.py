"""Dependency providers for the export routes."""

from __future__ import annotations

from litestar.datastructures import State

from vitae.exports.service import ExportService
from vitae.webhooks.service import WebhookService


def provide_webhook_service(state: State) -> WebhookService:
    """A webhook service bound to the app's clients (it queues, never calls)."""
    return WebhookService(state.engine, state.settings, queue=state.deliveries)


def provide_export_service(state: State) -> ExportService:
    """An export service bound to the app's clients."""
    return ExportService(
        state.engine,
        state.settings,
        queue=state.queue,
        storage=state.storage,
        events=state.events,
        idempotency=state.idempotency,
        templates=state.templates,
        webhooks=provide_webhook_service(state),
    )
