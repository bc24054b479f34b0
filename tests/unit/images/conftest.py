"""Recipes written into a temporary folder, for tree / render / hash tests without the real service folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from berth.images.recipes import Profile, Recipe

MakeRecipe = Callable[..., Recipe]


@pytest.fixture
def make_recipe(tmp_path: Path) -> MakeRecipe:
    def make(name: str, text: str, *, service: str | None = None, profile: Profile = "all",
             files: dict[str, str] | None = None) -> Recipe:
        folder = tmp_path / (service or "roots")
        folder.mkdir(exist_ok=True)
        for rel, content in (files or {}).items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(content)
        path = folder / f"{name}.Dockerfile.j2"
        path.write_text(text)
        return Recipe(name, path, service, profile)

    return make
