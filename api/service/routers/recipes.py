"""Recipes: create (each POST is a new version; stored versions never change), list, fetch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response
from sqlalchemy import select

from api.service.db import RecipeRow
from api.service.deps import Reader, RecipeEditor, SessionDep, VersionPath
from api.service.schemas import RecipePublic, RecipeSummary
from api.service.versions import get_version, insert_next_version
from models.recipe import Recipe

router = APIRouter(prefix="/v1/recipes", tags=["recipes"])


def _public(r: RecipeRow) -> RecipePublic:
    return RecipePublic(recipe_id=r.recipe_id, version=r.version, created_at=r.created_at, created_by=r.created_by, body=r.body)


def _identical_newest(s, recipe: Recipe) -> RecipeRow | None:
    newest = s.scalars(select(RecipeRow).where(RecipeRow.recipe_id == recipe.recipe_id).order_by(RecipeRow.version.desc()).limit(1)).first()
    if newest is None:
        return None
    body = recipe.model_copy(update={"version": newest.version}).model_dump(mode="json", exclude={"pin_grid"})
    return newest if body == newest.body else None


@router.post("", status_code=201, response_model=RecipePublic, summary="Store a recipe as its next version",
             description="201 with the new version; 200 with the newest version when the body is identical to it (nothing stored).")
def create_recipe(response: Response, s: SessionDep, who: RecipeEditor,
                  body: Annotated[dict, Body(description="a recipe document (as in recipe YAML); 'version' is assigned by the service")]):
    raw = dict(body)
    raw.pop("version", None)
    recipe = Recipe.from_dict(raw, source="recipe")  # InputError -> 422 naming the field

    same = _identical_newest(s, recipe)
    if same is not None:  # re-uploading the newest version is not a new version
        response.status_code = 200
        response.headers["Location"] = f"/v1/recipes/{same.recipe_id}/versions/{same.version}"
        return _public(same)

    def make(n: int) -> RecipeRow:
        stored = recipe.model_copy(update={"version": n}).model_dump(mode="json", exclude={"pin_grid"})
        return RecipeRow(recipe_id=recipe.recipe_id, version=n, body=stored, created_by=who.name)

    row = insert_next_version(s, RecipeRow, "recipe_id", recipe.recipe_id, make, what="recipe")
    response.headers["Location"] = f"/v1/recipes/{row.recipe_id}/versions/{row.version}"
    return _public(row)


@router.get("", response_model=list[RecipeSummary], summary="All recipes with their versions")
def list_recipes(s: SessionDep, _: Reader):
    out: dict[str, list[int]] = {}
    for rid, v in s.execute(select(RecipeRow.recipe_id, RecipeRow.version).order_by(RecipeRow.recipe_id, RecipeRow.version)).all():
        out.setdefault(rid, []).append(v)
    return [RecipeSummary(recipe_id=k, latest_version=max(v), versions=v) for k, v in out.items()]


def _get(s, recipe_id: str, version: int | None) -> RecipeRow:
    return get_version(s, RecipeRow, "recipe_id", recipe_id, version, what="recipe", slug="unknown-recipe")


@router.get("/{recipe_id}", response_model=RecipePublic, summary="The newest version of a recipe")
def get_recipe(recipe_id: str, s: SessionDep, _: Reader):
    return _public(_get(s, recipe_id, None))


@router.get("/{recipe_id}/versions/{version}", response_model=RecipePublic, summary="One version of a recipe")
def get_recipe_version(recipe_id: str, version: VersionPath, s: SessionDep, _: Reader):
    return _public(_get(s, recipe_id, version))
