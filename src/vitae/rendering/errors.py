"""Errors raised while rendering a résumé."""

from typing import Self


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

    def __reduce__(self) -> tuple[type[Self], tuple[str]]:
        # Rebuilt from the name, not from the message that `args` holds.
        return (type(self), (self.name,))


class InvalidOptionError(RenderError):
    """A template option is unknown or has a value the template does not accept.

    `option` is the option's name as in the API (camelCase); `message` names it and says
    which values are allowed.
    """

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option

    def __reduce__(self) -> tuple[type[Self], tuple[str, str]]:
        return (type(self), (self.option, self.message))
