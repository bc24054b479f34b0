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


@pytest.mark.parametrize(("postinst_failures", "expected"), [(0, 0), (1, 0), (3, 0), (4, 1)])
def test_configure_retries_run_the_postinst_again_until_it_passes(tmp_path, postinst_failures, expected):
    """The generated shell, run by sh with stand-ins for apt-get and dpkg whose postinst fails N times."""
    import os
    import subprocess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "left").write_text(str(postinst_failures))
    # A failed postinst leaves the package half-configured; apt-get install then refuses until it is configured.
    step = f"""#!/bin/sh
left=$(cat {tmp_path}/left)
if [ "$left" -gt 0 ]; then echo $((left - 1)) > {tmp_path}/left; touch {tmp_path}/half; exit 1; fi
rm -f {tmp_path}/half; exit 0
"""
    (bin_dir / "dpkg").write_text(step)
    (bin_dir / "apt-get").write_text(f"#!/bin/sh\n[ \"$1\" = install ] || exit 0\n"
                                     f"[ -e {tmp_path}/half ] && exit 100\nexec dpkg --configure -a\n")
    for tool in ("dpkg", "apt-get"):
        (bin_dir / tool).chmod(0o755)
    line = install_command(["pkg"], None, first=True, configure_retries=3)
    script = line.removeprefix("RUN ").split(" \\\n && apt-get clean")[0]
    proc = subprocess.run(["sh", "-c", script], env={**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"},
                          capture_output=True, text=True, check=False)
    assert (proc.returncode != 0) == bool(expected), (proc.returncode, script)
