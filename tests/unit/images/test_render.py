"""Rendering helpers: package install lines, users, template overrides, located template errors."""

from __future__ import annotations

import pytest

from berth.errors import BuildError
from berth.images.render import Packages, Renderer, RenderSettings, install_command, users_command

from .conftest import MakeRecipe


def test_install_applies_append_and_remove_and_cleans_caches() -> None:
    line = install_command(["a", "b"], Packages(append=("c",), remove=("b",)), first=True)
    assert "--no-install-recommends" in line
    assert " a " in line.replace("\\\n", " ") and " c " in line.replace("\\\n", " ") + " "
    assert " b " not in line.replace("\\\n", " ")
    assert "rm -rf /var/lib/apt/lists/*" in line


def test_appended_packages_go_into_the_first_install_only() -> None:
    assert "extra" not in install_command(["a"], Packages(append=("extra",)), first=False)


def test_users_have_fixed_ids_and_are_system_users() -> None:
    line = users_command({"keystone": 420})
    assert "groupadd --system --gid 420 keystone" in line
    assert "useradd --system --uid 420 --gid 420" in line


def test_override_blocks_replace_recipe_blocks(make_recipe: MakeRecipe) -> None:
    recipe = make_recipe("api", "FROM {{ rootfs }}\n{% block api_footer %}RUN old{% endblock %}\n")
    override = "{% block api_footer %}RUN new {{ image_name }}{% endblock %}{% block other_footer %}x{% endblock %}"
    settings = RenderSettings(rootfs="r:1", override=override)
    text = Renderer({"api": recipe}, settings).render(recipe)
    assert "RUN new api" in text and "RUN old" not in text


def test_override_can_call_super(make_recipe: MakeRecipe) -> None:
    recipe = make_recipe("api", "FROM {{ rootfs }}\n{% block api_footer %}RUN old{% endblock %}\n")
    settings = RenderSettings(rootfs="r:1", override="{% block api_footer %}{{ super() }} && more{% endblock %}")
    assert "RUN old && more" in Renderer({"api": recipe}, settings).render(recipe)


def test_template_errors_name_the_recipe_file(make_recipe: MakeRecipe) -> None:
    recipe = make_recipe("api", "FROM {{ rootfs }}\n{% block x %}\n")
    with pytest.raises(BuildError) as info:
        Renderer({"api": recipe}, RenderSettings()).render(recipe)
    assert str(recipe.path) in info.value.message


def test_undefined_names_are_errors(make_recipe: MakeRecipe) -> None:
    recipe = make_recipe("api", "FROM {{ rootfs }}\nRUN {{ nosuchthing }}\n")
    with pytest.raises(BuildError, match="nosuchthing"):
        Renderer({"api": recipe}, RenderSettings()).render(recipe)
