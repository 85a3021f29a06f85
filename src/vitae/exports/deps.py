"""Dependency providers for the export routes: the services the app's wiring built."""

from __future__ import annotations

from litestar.datastructures import State

from vitae.exports.service import ExportService


def provide_export_service(state: State) -> ExportService:
    """The app's export service (``vitae.wiring.api``)."""
    return state.services.exports
