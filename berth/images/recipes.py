"""Finding image recipes and the per-folder data beside them (`images/images.yml`).

A recipe is `<image>.Dockerfile.j2`: the image name is the file stem. The two roots of the tree (base,
openstack-base) live in berth/images/recipes/; every other recipe lives in its service's folder,
berth/services/<service>/images/. Profiles and service users are data in those folders, so no central
list names a service.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from berth.errors import BuildError
from berth.services.registry import service_dirs

ROOT_RECIPES = Path(__file__).resolve().parent / "recipes"
SUFFIX = ".Dockerfile.j2"
Profile = Literal["infra", "core", "all"]
PROFILES: tuple[Profile, ...] = ("infra", "core", "all")  # each profile includes the ones before it


class ImageEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    profile: Profile | None = None
    releases: list[str] | None = None  # OpenStack releases the image is built for (None: every one)
    # users this image alone creates (uid = gid), e.g. a daemon's own user in an image not built on the folder's
    # `users_in` image (Designate's BIND 9 builds on `base`)
    users: dict[str, int] = Field(default_factory=dict)


class FolderData(BaseModel):
    """`images/images.yml`: profile of the folder's images, and the service users with fixed ids."""

    model_config = ConfigDict(extra="forbid")
    profile: Profile = "all"
    images: dict[str, ImageEntry] = Field(default_factory=dict)
    users: dict[str, int] = Field(default_factory=dict)  # user (and group of the same name) -> uid = gid
    users_in: str | None = None  # image that creates these users (default: each image of this folder)


@dataclass(frozen=True)
class Recipe:
    name: str
    path: Path
    service: str | None  # None for the roots in berth/images/recipes/
    profile: Profile
    releases: tuple[str, ...] | None = None  # None: built for every release

    def for_release(self, release: str) -> bool:
        return self.releases is None or release in self.releases

    @property
    def folder(self) -> Path:
        return self.path.parent

    def in_profile(self, profile: Profile) -> bool:
        return PROFILES.index(self.profile) <= PROFILES.index(profile)


def _load_folder_data(path: Path) -> FolderData:
    if not path.is_file():
        return FolderData()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        return FolderData.model_validate(raw)
    except yaml.YAMLError as exc:
        raise BuildError(f"{path}: not valid YAML: {exc}", "fix the file's syntax") from exc
    except ValidationError as exc:
        problems = [f"{path}: `{'.'.join(str(p) for p in e['loc'])}`: {e['msg']}" for e in exc.errors()]
        raise BuildError(f"{len(problems)} problem(s) in {path}", "see docs/images.md for images.yml",
                         details=problems) from exc


@lru_cache(maxsize=1)
def folder_data() -> dict[str, FolderData]:
    """images.yml of every service folder with recipes, by service name."""
    return {name: _load_folder_data(path / "images" / "images.yml")
            for name, path in service_dirs().items() if (path / "images").is_dir()}


@lru_cache(maxsize=1)
def discover() -> dict[str, Recipe]:
    """Every recipe by image name; two recipes with one name is an error naming both files."""
    found: dict[str, Recipe] = {}
    folders: list[tuple[str | None, Path, FolderData]] = [(None, ROOT_RECIPES, FolderData(profile="infra"))]
    folders += [(name, service_dirs()[name] / "images", data) for name, data in folder_data().items()]
    for service, folder, data in folders:
        for path in sorted(folder.glob("*" + SUFFIX)):
            name = path.name[: -len(SUFFIX)]
            if name in found:
                raise BuildError(f"image {name} has two recipes: {found[name].path} and {path}",
                                 "rename one of them (the image name is the file name)")
            entry = data.images.get(name, ImageEntry())
            found[name] = Recipe(name, path, service, entry.profile or data.profile,
                                 tuple(entry.releases) if entry.releases is not None else None)
    for service, data in folder_data().items():
        unknown = sorted(set(data.images) - set(found))
        if unknown:
            raise BuildError(f"{service}/images/images.yml names unknown image(s) {', '.join(unknown)}",
                             f"images are the *{SUFFIX} files beside it")
    return found


def users_for(image: Recipe) -> dict[str, int]:
    """Users the recipe of `image` creates: those declared `users_in: <image>` anywhere, plus its own folder's,
    plus the ones its folder's images.yml gives that image alone (`images: {<image>: {users: ...}}`)."""
    users: dict[str, int] = {}
    for service, data in folder_data().items():
        if data.users_in == image.name or (data.users_in is None and service == image.service):
            users.update(data.users)
        if service == image.service and image.name in data.images:
            users.update(data.images[image.name].users)
    return dict(sorted(users.items(), key=lambda item: item[1]))
