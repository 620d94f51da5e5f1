"""The refusals of what staff change (prompts, vocabulary, taught phrasings,
offers): the message says why, for the person making the change."""

from __future__ import annotations

from collections.abc import Sequence


class AdminError(ValueError):
    """A change that was refused; the message says why, for the person making it."""

    def __init__(self, reasons: str | Sequence[str]):
        self.reasons = [reasons] if isinstance(reasons, str) else list(reasons)
        super().__init__("; ".join(self.reasons))


class Refused(AdminError):
    """Invalid input: nothing was changed."""


class NotFound(AdminError):
    """No such prompt, language, version or offer."""
