"""Résumés: the JSON Resume documents users keep and export."""
