"""The station configuration reference table in the README, made from the pydantic model
(`api.station.config.StationConfig`), so the README and the code cannot drift apart (a test compares
them). Regenerate the README section with ``python -m api.station.reference --write README.md``.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path

from pydantic import BaseModel

from api.station.config import StationConfig

BEGIN, END = "<!-- station-config:begin (python -m api.station.reference --write README.md) -->", "<!-- station-config:end -->"


def _variants(ann) -> list[type[BaseModel]]:
    """The models an annotation holds: itself, a union's members, a dict's values."""
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _variants(typing.get_args(ann)[0])
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    if origin in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(ann) for m in _variants(a)]
    return []


def _type(ann) -> str:
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _type(typing.get_args(ann)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        t = " or ".join(dict.fromkeys(_type(a) for a in args))
        return t + (" or null" if len(args) < len(typing.get_args(ann)) else "")
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(ann))
    if origin is dict:
        return "mapping"
    if ann is Path:
        return "path"
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return "mapping"
    return getattr(ann, "__name__", str(ann))


def _default(f) -> str:
    if f.is_required():
        return "required"
    d = f.default
    if d is None:
        return "—"
    if isinstance(d, BaseModel):
        return f"`{{kind: {d.kind}}}`" if "kind" in type(d).model_fields else "(the defaults below)"
    if isinstance(d, bool):
        return str(d).lower()
    return f"`{d}`"


def rows() -> list[tuple[str, str, str, str]]:
    out: list[tuple[str, str, str, str]] = []

    def walk(model: type[BaseModel], prefix: str, variant: str = "") -> None:
        for name, f in model.model_fields.items():
            key = prefix + name
            ann = f.annotation
            dict_value = typing.get_args(ann)[1] if typing.get_origin(ann) is dict else None
            subs = _variants(dict_value if dict_value is not None else ann)
            if name == "kind" and variant:
                continue
            desc = (f.description or "").replace("|", "\\|")
            out.append((f"`{key}`" + (f" ({variant})" if variant else ""), _type(ann), _default(f), desc))
            if not subs:
                continue
            child = f"{key}.<{'name' if name == 'cameras' else 'view'}>." if dict_value is not None else f"{key}."
            for m in subs:
                kind = m.model_fields.get("kind")
                v = typing.get_args(kind.annotation)[0] if kind is not None else ""
                if v:
                    doc = " ".join((m.__doc__ or "").split())
                    out.append((f"`{child}kind: {v}`", "", "", doc.replace("|", "\\|")))
                walk(m, child, v)

    walk(StationConfig, "")
    return out


def markdown() -> str:
    lines = ["| key | type | default | what |", "|---|---|---|---|"]
    lines += [f"| {k} | {t} | {d} | {w} |" for k, t, d, w in rows()]
    return "\n".join(lines) + "\n"


def readme_section(text: str) -> str | None:
    if BEGIN not in text or END not in text:
        return None
    return text[text.index(BEGIN) + len(BEGIN):text.index(END)].strip("\n") + "\n"


def write(readme: Path) -> None:
    text = readme.read_text()
    a, b = text.index(BEGIN) + len(BEGIN), text.index(END)
    readme.write_text(text[:a] + "\n" + markdown() + text[b:])


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        write(Path(sys.argv[2]))
    else:
        sys.stdout.write(markdown())
