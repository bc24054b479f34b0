"""The image tree from rendered FROM lines, selection by name/service/profile, and content hashes."""

from __future__ import annotations

import pytest

from berth.errors import BuildError, NotFoundError
from berth.images.recipes import Recipe
from berth.images.render import Packages, Renderer, RenderSettings
from berth.images.tree import ImageNode, build_tree, copy_sources, parents_of, select

from .conftest import MakeRecipe

SETTINGS = RenderSettings(namespace="ns", tag="t", rootfs="root/fs:1")


def tree(recipes: list[Recipe], settings: RenderSettings = SETTINGS) -> dict[str, ImageNode]:
    by_name = {r.name: r for r in recipes}
    return build_tree(by_name, Renderer(by_name, settings))


@pytest.fixture
def family(make_recipe: MakeRecipe) -> list[Recipe]:
    return [
        make_recipe("base", "FROM {{ rootfs }}\nCOPY start /usr/local/bin/\n", files={"start": "#!/bin/sh\n"},
                    profile="infra"),
        make_recipe("os-base", 'FROM {{ image("base") }}\n{{ install(["python3"]) }}\n', profile="infra"),
        make_recipe("db", 'FROM {{ image("base") }}\n', service="db", profile="infra"),
        make_recipe("nova-base", 'FROM {{ image("os-base") }}\n', service="nova", profile="core"),
        make_recipe("nova-api", 'FROM {{ image("nova-base") }}\n', service="nova", profile="core"),
        make_recipe("heat-api", 'FROM {{ image("os-base") }}\n', service="heat"),
    ]


def test_parents_come_from_rendered_from_lines(family: list[Recipe]) -> None:
    nodes = tree(family)
    assert nodes["base"].parents == ()
    assert nodes["nova-api"].parents == ("nova-base",)
    assert nodes["nova-api"].dockerfile.startswith("FROM ns/nova-base:t")


def test_unknown_parent_is_an_error_naming_it() -> None:
    with pytest.raises(BuildError, match="FROM debian:sid is neither"):
        parents_of("x", "FROM debian:sid\n", {"ns/base:t": "base"}, ["root/fs:1"])


def test_image_helper_with_unknown_name_is_an_error(make_recipe: MakeRecipe) -> None:
    bad = make_recipe("bad", 'FROM {{ image("nope") }}\n')
    with pytest.raises(BuildError, match="names no known image"):
        tree([bad])


def test_multi_stage_names_are_not_parents(make_recipe: MakeRecipe) -> None:
    base = make_recipe("base", "FROM {{ rootfs }} AS build\nFROM build\n")
    assert tree([base])["base"].parents == ()


def test_selection_adds_parents_in_order(family: list[Recipe]) -> None:
    nodes = tree(family)
    assert select(nodes, ["nova-api"]) == ["base", "os-base", "nova-base", "nova-api"]
    assert select(nodes, ["nova"]) == ["base", "os-base", "nova-base", "nova-api"]


def test_profiles_include_the_smaller_ones(family: list[Recipe]) -> None:
    nodes = tree(family)
    assert set(select(nodes, ["infra"])) == {"base", "os-base", "db"}
    assert set(select(nodes, ["core"])) == {"base", "os-base", "db", "nova-base", "nova-api"}
    assert "heat-api" in select(nodes, ["all"]) and "heat-api" not in select(nodes, ["core"])


def test_unknown_name_lists_close_names(family: list[Recipe]) -> None:
    with pytest.raises(NotFoundError) as info:
        select(tree(family), ["nova-apj"])
    assert "nova-api" in (info.value.hint or "")


def test_a_service_whose_images_are_for_another_release_says_so(family: list[Recipe]) -> None:
    """Murano's recipes are for Zed only: on another release the word is known, not a typo."""
    for word in ("murano", "murano-api"):
        with pytest.raises(NotFoundError) as info:
            select(tree(family), [word])
        assert info.value.message == (f"{word!r} has no image for this release: its images are built for "
                                      "OpenStack zed only")
        assert "openstack_release is zed" in (info.value.hint or "")


def test_copy_sources_skip_flags_destinations_and_other_stages() -> None:
    text = ('COPY --chown=a:b one two /dest/\nADD ["three", "/x"]\nCOPY --from=build /a /b\n'
            "COPY four \\\n     /y\n")
    assert copy_sources(text) == ["one", "two", "three", "four"]


def test_missing_copy_source_is_an_error(make_recipe: MakeRecipe) -> None:
    with pytest.raises(BuildError, match="COPY/ADD source nothere does not exist"):
        tree([make_recipe("base", "FROM {{ rootfs }}\nCOPY nothere /\n")])


def test_hash_ignores_namespace_and_registry(family: list[Recipe]) -> None:
    other = RenderSettings(namespace="other", tag="x", registry="127.0.0.1:4000", rootfs="root/fs:1")
    assert {n: v.hash for n, v in tree(family).items()} == {n: v.hash for n, v in tree(family, other).items()}


def test_hash_changes_with_recipe_file_and_flow_to_children(make_recipe: MakeRecipe, family: list[Recipe]) -> None:
    before = tree(family)
    (family[0].folder / "start").write_text("#!/bin/sh\necho changed\n")
    after = tree(family)
    assert all(before[n].hash != after[n].hash for n in before), "a build file change reaches every child"
    family[2].path.write_text('FROM {{ image("base") }}\nRUN true\n')
    again = tree(family)
    assert again["db"].hash != after["db"].hash
    assert again["nova-api"].hash == after["nova-api"].hash


def test_hash_changes_with_the_package_list(family: list[Recipe]) -> None:
    plain = tree(family)
    custom = RenderSettings(namespace="ns", tag="t", rootfs="root/fs:1",
                            packages={"os-base": Packages(append=("vim",))})
    changed = tree(family, custom)
    assert "vim" in changed["os-base"].dockerfile
    assert changed["os-base"].hash != plain["os-base"].hash
    assert changed["nova-api"].hash != plain["nova-api"].hash
    assert changed["db"].hash == plain["db"].hash
