"""Dependency providers for the résumé routes: the services the app's wiring built."""

from __future__ import annotations

from litestar.datastructures import State

from vitae.resumes.service import ResumeService


def provide_resume_service(state: State) -> ResumeService:
    """The app's résumé service, whose deletions cancel the résumé's exports."""
    return state.services.resumes
