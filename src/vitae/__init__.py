"""Vitae: asynchronous résumé-to-PDF exports."""

from importlib.metadata import version

__version__ = version("vitae")
__all__ = ["__version__"]
