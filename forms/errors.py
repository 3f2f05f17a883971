"""Errors raised by the forms package, all under `FormsError`."""

__all__ = ["FormError", "FormsError", "InvalidValueError", "UnknownFormError"]


class FormsError(Exception):
    """Base of every error the forms package raises."""


class InvalidValueError(FormsError, ValueError):
    """A single value (a date, a national ID, a mobile number) is invalid; message in Persian."""


class UnknownFormError(FormsError, LookupError):
    """No form is registered under the requested form key."""


class FormError(FormsError):
    """Submitted form data is invalid.

    ``errors`` maps a dotted field path (``manager.national_id``,
    ``founding_board.2.national_id``, or ``_schema`` for the whole form) to
    Persian messages.
    """

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors
