"""Vitae: asynchronous résumé-to-PDF exports."""
