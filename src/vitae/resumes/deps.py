"""Dependency providers for the résumé routes."""

from __future__ import annotations

from litestar.datastructures import State

from vitae.exports.deps import provide_export_service
from vitae.resumes.service import ResumeService


def provide_resume_service(state: State) -> ResumeService:
    """A résumé service whose deletions cancel the résumé's exports."""
    exports = provide_export_service(state)
    return ResumeService(
        state.engine,
        templates=[t.name for t in state.templates],
        on_delete=exports.cancel_pending_by_resume_id,
    )
