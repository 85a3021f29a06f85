"""Exports: requests for PDFs, their lifecycle, their jobs and their routes."""
