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


@router.post("", status_code=201, response_model=RecipePublic, summary="Store a recipe as its next version")
def create_recipe(response: Response, s: SessionDep, who: RecipeEditor,
                  body: Annotated[dict, Body(description="a recipe document (as in recipe YAML); 'version' is assigned by the service")]):
    raw = dict(body)
    raw.pop("version", None)
    recipe = Recipe.from_dict(raw, source="recipe")  # InputError -> 422 naming the field

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
