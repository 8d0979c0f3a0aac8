"""The `pogoscope` typer application; sub-command modules register on `app`."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="pogoscope",
    help="Machine-vision inspection of pogo pins on circuit boards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def version() -> None:
    """Print the pogoscope version."""
    from importlib.metadata import version as _v

    typer.echo(_v("pogoscope"))
