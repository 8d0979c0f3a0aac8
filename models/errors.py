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


def validated(model: type, raw: object, *, source: str):
    """``model.model_validate(raw)`` with the first problem as one `InputError` line naming the field."""
    from pydantic import ValidationError

    if not isinstance(raw, dict):
        raise InputError(f"{source}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        raise InputError(f"{source}: field '{loc}': {msg}", field=loc) from None


def read_yaml(path, *, what: str) -> object:
    """Parse a YAML file (libyaml's loader where present); missing or malformed files are one-line InputErrors."""
    from pathlib import Path

    import yaml

    p = Path(path)
    try:
        return yaml.load(p.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (FileNotFoundError, IsADirectoryError):
        raise InputError(f"{what} {p} does not exist") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError(f"{what} {p} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
