"""`pogoscope` command line. Bad input: one line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import importlib
import sys

import click

from api.cli.app import app
from calibration.errors import InputError

# Sub-command modules; each registers its commands on `app` when imported.
_COMMAND_MODULES = ["calibrate", "inspect", "teach", "generate", "focus", "serve", "station", "worker"]
for _name in _COMMAND_MODULES:
    try:
        importlib.import_module(f"api.cli.{_name}")
    except ModuleNotFoundError as exc:  # a command not built yet
        if exc.name != f"api.cli.{_name}":
            raise


def main(argv: list[str] | None = None) -> int:
    try:
        app(args=argv, standalone_mode=False, prog_name="pogoscope")
    except InputError as exc:
        print(f"pogoscope: error: {exc}", file=sys.stderr)
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        print("pogoscope: aborted", file=sys.stderr)
        return 130
    except click.ClickException as exc:
        print(f"pogoscope: error: {exc.format_message()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
