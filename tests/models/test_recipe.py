"""Recipe validation: good recipes load, wrong ones get one line naming the field."""

import pytest
import yaml

from models.errors import InputError
from models.decision import Check
from models.recipe import Recipe

PIN_A = dict(
    flange_diameter_mm=1.4, flange_thickness_mm=0.3, barrel_diameter_mm=1.0, barrel_length_mm=2.0,
    plunger_diameter_mm=0.56, plunger_protrusion_mm=1.0, tip_dome_radius_mm=0.35, tip_height_nominal_mm=3.32,
)


def base(**over):
    d = {
        "recipe_id": "row7",
        "board": {"id": "B1", "size_mm": [21.24, 5.0, 1.6]},
        "pin_type": dict(PIN_A),
        "pin_grid": {"rows": 1, "cols": 7, "pitch_mm": 2.54, "origin_mm": [3.0, 2.5]},
        "fiducials": [{"xy_mm": [1.2, 1.2], "diameter_mm": 1.0}, {"xy_mm": [20.04, 3.8], "diameter_mm": 1.0}],
    }
    d.update(over)
    return d


def test_grid_expands_row_major_from_front():
    r = Recipe.from_dict(base(pin_grid={"rows": 2, "cols": 3, "pitch_mm": [2.0, 2.5], "origin_mm": [3, 1]}, board={"id": "B", "size_mm": [10, 6, 1.6]}, fiducials=[]))
    assert [p.id for p in r.pins] == ["P01", "P02", "P03", "P04", "P05", "P06"]
    assert r.pin("P04").xy_mm == (3.0, 3.5) and (r.pin("P04").row, r.pin("P04").col) == (1, 0)
    pitches = r.nominal_pitch_mm()
    assert pitches[("P01", "P02")] == pytest.approx(2.0) and pitches[("P01", "P04")] == pytest.approx(2.5)
    assert r.rows == 2


def test_yaml_round_trip(tmp_path):
    r = Recipe.from_dict(base())
    p = tmp_path / "r.yaml"
    r.to_yaml(p)
    r2 = Recipe.from_yaml(p)
    # the grid shorthand is written out as its explicit pin list
    assert r2.model_dump(exclude={"pin_grid"}) == r.model_dump(exclude={"pin_grid"})


@pytest.mark.parametrize(
    "mutate, field, words",
    [
        (lambda d: d.pop("board"), "board", "Field required"),
        (lambda d: d["pin_type"].update(barrel_diameter_mm=2.0), "pin_type", "plunger_diameter_mm < barrel_diameter_mm"),
        (lambda d: d["pin_type"].update(flange_thickness_mm=-1), "pin_type.flange_thickness_mm", "greater than 0"),
        (lambda d: d["pin_grid"].update(origin_mm=[30, 2.5]), "(top level)", "outside"),
        (lambda d: d.update(limits={"tilt": {"upper": "steep"}}), "limits.tilt.upper", "number"),
        (lambda d: d.update(required_checks=["tilt", "wobble"]), "required_checks.1", "tilt"),
        (lambda d: d.update(pins=[{"id": "X", "xy_mm": [1, 1]}]), "(top level)", "either 'pins' or 'pin_grid'"),
        (lambda d: d.update(colour="red"), "colour", "Extra inputs"),
    ],
)
def test_wrong_recipe_one_line_naming_field(mutate, field, words):
    d = base()
    mutate(d)
    with pytest.raises(InputError) as ei:
        Recipe.from_dict(d, source="r.yaml")
    msg = str(ei.value)
    assert "\n" not in msg
    assert f"field '{field}'" in msg and words in msg, msg


def test_bad_yaml_and_missing_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("recipe_id: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML at line"):
        Recipe.from_yaml(p)
    with pytest.raises(InputError, match="does not exist"):
        Recipe.from_yaml(tmp_path / "nope.yaml")
    p.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(InputError, match="mapping at the top level"):
        Recipe.from_yaml(p)


def test_defaults():
    r = Recipe.from_dict(base())
    assert r.limits.tilt.upper == 2.0 and r.limits.tilt.guard_band_k == 2.0
    assert r.is_required(Check.tilt) and not r.is_required(Check.compression)
    assert r.key == "row7@1"


def test_default_required_checks_are_those_the_views_can_decide():
    """A microscope recipe (focus stacks only) does not demand solder checks its mono stacks cannot make; a top
    view's recipe keeps them; an explicit list is kept as written."""
    from models.decision import Check
    from models.recipe import DEFAULT_REQUIRED, Recipe

    base = {"recipe_id": "r", "board": {"id": "b", "size_mm": [20, 20, 1.6]}, "pins": [{"id": "P1", "xy_mm": [5, 5]}],
            "pin_type": {"flange_diameter_mm": 1.4, "flange_thickness_mm": 0.3, "barrel_diameter_mm": 1.0,
                         "barrel_length_mm": 2.0, "plunger_diameter_mm": 0.56, "plunger_protrusion_mm": 1.0,
                         "tip_dome_radius_mm": 0.35, "tip_height_nominal_mm": 3.32}}
    assert Recipe.from_dict(base).required_checks == DEFAULT_REQUIRED
    micro = Recipe.from_dict({**base, "views": []}).required_checks
    assert micro == [Check.missing, Check.xy_position, Check.tilt, Check.pitch]
    side = Recipe.from_dict({**base, "views": ["side_back"]}).required_checks
    assert Check.xy_position not in side and Check.tilt in side
    explicit = Recipe.from_dict({**base, "views": [], "required_checks": ["solder_wicking"]}).required_checks
    assert explicit == [Check.solder_wicking]
