"""`pogoscope schema`: export the JSON Schemas of the result document and the recipe."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from api.cli.app import app


@app.command()
def schema(
    what: str = typer.Argument("result", help="result | recipe | calibration | station"),
    out: Path | None = typer.Option(None, "--out", help="write here instead of stdout"),
) -> None:
    """Print (or write) the JSON Schema of the result document, the recipe, a calibration record or the station config."""
    from models.errors import InputError
    from calibration.record import CalibrationRecord
    from models.recipe import Recipe
    from models.result import result_json_schema

    from api.station.config import station_json_schema

    schemas = {"result": result_json_schema, "recipe": Recipe.model_json_schema, "calibration": CalibrationRecord.model_json_schema,
               "station": station_json_schema}
    if what not in schemas:
        raise InputError(f"unknown schema {what!r}; choose one of {', '.join(schemas)}")
    text = json.dumps(schemas[what](), indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
