"""Rendering recipes: Jinja2 Dockerfile templates with a few helpers and operator customization.

Helpers available in every recipe:
  - `image("name")`: the full reference of another berth image (for FROM lines; the tree is read back from them);
  - `rootfs`: the reference of the root image;  `apt_sources`: sources.list text for the configured mirror;
  - `install([...])`: one RUN that installs packages without recommends and removes the caches, applying
    globals `image_packages.<image>.append/remove`;
  - `users()`: creates the service users (fixed uid = gid) declared in images.yml, before any package does.
Operators customize with a template-override file: its `{% block name %}` replace those blocks of any recipe
(the file is rendered as a child template of each recipe).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

import jinja2

from berth.errors import BuildError
from berth.images.names import image_ref
from berth.images.recipes import Recipe, users_for

CLEANUP = ("apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old "
           "/var/log/apt/* /var/log/dpkg.log /tmp/* /root/.cache")


@dataclass(frozen=True)
class Packages:
    append: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class RenderSettings:
    """Everything outside the recipe that shapes its rendered text."""

    namespace: str = "berth"
    tag: str = "epoxy"
    registry: str = ""
    rootfs: str = "berth/rootfs:trixie"
    apt_sources: str = ""
    release: str = "trixie"  # the Debian suite
    openstack_release: str = "epoxy"
    packages: Mapping[str, Packages] = field(default_factory=dict)
    override: str = ""  # template-override text ({% block %} definitions)

    def ref(self, name: str) -> str:
        """`[registry/]namespace/name:tag`."""
        return image_ref(self.registry, self.namespace, name, self.tag)


def install_command(packages: list[str], custom: Packages | None, first: bool, configure_retries: int = 0) -> str:
    """The RUN line installing `packages` (+ appended ones on the first call, - removed ones).

    `configure_retries`: when the install fails, run the failed maintainer scripts again (`dpkg --configure -a`)
    and the install after them, up to this many times, for packages whose postinst fails at random
    (openstack-dashboard's `compress`). Success still means the last `apt-get install` succeeded.
    """
    wanted = list(packages) + (list(custom.append) if custom and first else [])
    removed = set(custom.remove) if custom else set()
    names = [p for p in dict.fromkeys(wanted) if p not in removed]
    if not names:
        return "# (no packages left to install)"
    listing = " \\\n        ".join(shlex.quote(p) for p in names)
    command = f"apt-get install -y --no-install-recommends \\\n        {listing}"
    if configure_retries > 0:
        command = (f"{{ {command} \\\n    || for attempt in $(seq {configure_retries}); do "
                   f"dpkg --configure -a && {command} && break; done; }}")
    return f"RUN apt-get update \\\n && {command} \\\n && {CLEANUP}"


def users_command(users: Mapping[str, int]) -> str:
    """groupadd/useradd with fixed ids, as system users so Debian's maintainer scripts reuse them."""
    if not users:
        return "# (no service users)"
    steps = [f"groupadd --system --gid {uid} {name} && useradd --system --uid {uid} --gid {uid} "
             f"--home-dir /var/lib/{name} --no-create-home --shell /usr/sbin/nologin {name}"
             for name, uid in users.items()]
    return "RUN " + " \\\n && ".join(steps)


class Renderer:
    """Renders recipes with shared settings; one instance per build run."""

    def __init__(self, recipes: Mapping[str, Recipe], settings: RenderSettings) -> None:
        self.recipes = recipes
        self.settings = settings
        self.env = jinja2.Environment(
            loader=jinja2.FunctionLoader(self._source), undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True, autoescape=False,
        )

    def _source(self, name: str) -> tuple[str, str, None] | None:
        recipe = self.recipes.get(name)
        return (recipe.path.read_text(), str(recipe.path), None) if recipe else None

    def render(self, recipe: Recipe) -> str:
        """The Dockerfile text of `recipe`; template errors name the recipe file and line."""
        calls = {"install": 0}

        def install(packages: list[str], configure_retries: int = 0) -> str:
            calls["install"] += 1
            return install_command(packages, self.settings.packages.get(recipe.name), calls["install"] == 1,
                                   configure_retries)

        def image(name: str) -> str:
            if name not in self.recipes:
                raise BuildError(f"{recipe.path}: image({name!r}) names no known image",
                                 f"known images: {', '.join(sorted(self.recipes))}")
            return self.settings.ref(name)

        context = {
            "image": image, "install": install, "users": lambda: users_command(users_for(recipe)),
            "rootfs": self.settings.rootfs, "apt_sources": self.settings.apt_sources,
            "release": self.settings.release, "openstack_release": self.settings.openstack_release,
            "image_name": recipe.name,
        }
        try:
            if self.settings.override:
                template = self.env.from_string('{% extends "' + recipe.name + '" %}\n' + self.settings.override)
            else:
                template = self.env.get_template(recipe.name)
            return template.render(context)
        except jinja2.TemplateSyntaxError as exc:
            where = exc.filename or (recipe.path if exc.name == recipe.name else "template override")
            raise BuildError(f"{where}:{exc.lineno}: {exc.message}", "fix the template syntax") from exc
        except jinja2.UndefinedError as exc:
            raise BuildError(f"{recipe.path}: {exc.message}",
                             "recipes may use image(), install(), users(), rootfs, apt_sources, release, openstack_release") from exc
