"""The CLI shell: JSON Schema export and one-line errors with exit 2."""

import json
import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, timeout=60)


def test_schema_export(tmp_path):
    out = tmp_path / "result.schema.json"
    r = run("schema", "result", "--out", str(out))
    assert r.returncode == 0, r.stderr
    schema = json.loads(out.read_text())
    assert schema["title"] == "BoardResult"
    assert "PinResult" in schema["$defs"] and "Measurement" in schema["$defs"]


def test_unknown_schema_is_one_line_exit_2():
    r = run("schema", "wobble")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "unknown schema 'wobble'" in r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_option_is_one_line_exit_2():
    r = run("schema", "--colour", "red")
    assert r.returncode == 2 and "Traceback" not in r.stderr
