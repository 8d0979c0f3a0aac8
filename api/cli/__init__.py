"""`pogoscope` command line. Bad input: one line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import importlib
import os
import sys

import typer

try:  # typer >= 0.20 vendors its own click
    from typer._click import exceptions as _cx
except ImportError:  # pragma: no cover
    from click import exceptions as _cx

from api.cli.app import app
from models.errors import InputError

# Sub-command modules; each registers its commands on `app` when imported.
_COMMAND_MODULES = ["schema", "calibrate", "inspect", "teach", "generate", "focus", "serve", "station", "worker", "events", "spc",
                    "grr"]
for _name in _COMMAND_MODULES:
    try:
        importlib.import_module(f"api.cli.{_name}")
    except ModuleNotFoundError as exc:  # a command not built yet
        if exc.name != f"api.cli.{_name}":
            raise


def main(argv: list[str] | None = None) -> int:
    try:
        rc = app(args=argv, standalone_mode=False, prog_name="pogoscope")
        if type(rc) is int:  # a command's `raise typer.Exit(code)` comes back as its return value here
            return rc
    except InputError as exc:
        print(f"pogoscope: error: {exc}", file=sys.stderr)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("pogoscope: aborted", file=sys.stderr)
        return 130
    except getattr(_cx, "NoArgsIsHelpError", ()) :
        return 0  # help was printed
    except _cx.ClickException as exc:
        print(f"pogoscope: error: {exc.format_message()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # e.g. an output path that cannot be written
        print(f"pogoscope: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: one line for the operator, the traceback on request
        if os.environ.get("POGOSCOPE_DEBUG"):
            raise
        print(f"pogoscope: internal error: {type(exc).__name__}: {exc} (set POGOSCOPE_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
