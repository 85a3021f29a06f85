"""Errors raised while rendering a résumé."""


class RenderError(Exception):
    """A résumé could not be rendered; `message` is one readable line, never a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownTemplateError(RenderError):
    """The requested template is not in the catalog."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown template {name!r}")
        self.name = name
