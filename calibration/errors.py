"""Errors shared by every layer.

`InputError` is the one exception type the product raises for bad input (a corrupt image,
a wrong recipe field, a target that is not found, a record for another camera). Its
message is a single line that says what is wrong and how to fix it; the CLI prints it and
exits 2, the API turns it into problem+json. It lives in the lowest package so that every
layer above can raise it without importing upwards.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input, with a one-line message meant for the operator."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        message = " ".join(str(message).split())  # always one line
        super().__init__(message)
        self.field = field
