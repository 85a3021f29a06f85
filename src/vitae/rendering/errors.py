"""Errors raised while rendering a résumé."""

from typing import Self

from vitae.errors import VitaeError


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


class RenderTimeoutError(RenderError):
    """The compile ran past its deadline; its render process was killed."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"it took longer than the {seconds:g} s limit")
        self.seconds = seconds

    def __reduce__(self) -> tuple[type[Self], tuple[float]]:
        return (type(self), (self.seconds,))


class RenderMemoryError(RenderError):
    """The compile needed more memory than a render process may have; the process died."""

    def __init__(self, megabytes: int) -> None:
        super().__init__(f"it needed more than {megabytes} MB of memory")
        self.megabytes = megabytes

    def __reduce__(self) -> tuple[type[Self], tuple[int]]:
        return (type(self), (self.megabytes,))


class PageLimitError(RenderError):
    """The PDF has more pages than allowed."""

    def __init__(self, pages: int, limit: int) -> None:
        super().__init__(f"the PDF has {pages} pages, more than the {limit}-page limit")
        self.pages = pages
        self.limit = limit

    def __reduce__(self) -> tuple[type[Self], tuple[int, int]]:
        return (type(self), (self.pages, self.limit))


class RenderUnavailableError(VitaeError):
    """A render could not run to its end for a reason a later attempt may not meet: its render
    process died without being killed for time or memory, or none was free in time.

    Not a `RenderError`: the export job retries it.
    """
