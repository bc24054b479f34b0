"""Cache decisions: one listing by label decides cached / re-tag / build; cached images never call build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from berth.config.globals import globals_model
from berth.engine import labels
from berth.engine.base import ImageInfo
from berth.engine.memory import MemoryEngine
from berth.errors import ConfigError
from berth.images.builder import BuildOptions, plan_build, run_build
from berth.run.events import Status


class FakeEngine(MemoryEngine):
    """The memory engine with the listing the planner reads, and lookups by name answered from `present`."""

    def __init__(self, images: list[ImageInfo], present: set[str]) -> None:
        super().__init__()
        self.listed = images
        self.present = present

    def image(self, ref: str) -> ImageInfo | None:
        self.calls.append(("image", ref))
        return ImageInfo("sha256:x") if ref in self.present else None

    def images(self, label: str | None = None) -> list[ImageInfo]:
        self.calls.append(("images", label))
        return self.listed

    def tag(self, image: str, ref: str) -> None:
        self.calls.append(("tag", ref))

    def build(self, context: Any, tag: str, labels: Any, nocache: bool = False) -> Any:
        raise AssertionError("a cached image must not be built")


def summary(name: str, digest: str, *tags: str) -> ImageInfo:
    return ImageInfo(f"sha256:{name}", tuple(t for t in tags if t != "<none>:<none>"),
                     {labels.IMAGE_NAME: name, labels.IMAGE_HASH: digest})


@pytest.fixture
def settings() -> Any:
    return globals_model()(image_namespace="unit", debian_mirror="http://mirror.example/debian")


def test_nothing_built_means_everything_missing_and_a_rootfs(settings: Any) -> None:
    plan = plan_build(FakeEngine([], set()), settings, ["memcached"])
    assert list(plan.images) == ["base", "memcached"]
    assert not any(p.cached for p in plan.images.values())
    assert plan.needs_rootfs and plan.rootfs.ref == "berth/rootfs:trixie"  # epoxy, the default release


def test_the_release_decides_the_suite_and_the_tag() -> None:
    zed = globals_model()(image_namespace="unit", debian_mirror="http://mirror.example/debian",
                          openstack_release="zed")
    plan = plan_build(FakeEngine([], set()), zed, ["memcached"])
    assert plan.rootfs.ref == "berth/rootfs:bookworm" and plan.images["memcached"].ref == "unit/memcached:zed"
    assert "deb http://mirror.example/debian bookworm main" in plan.images["base"].node.dockerfile


def test_debian_image_is_used_when_present(settings: Any) -> None:
    plan = plan_build(FakeEngine([], {"debian:trixie"}), settings, ["base"])
    assert plan.rootfs.ref == "debian:trixie" and not plan.needs_rootfs
    assert "\nFROM debian:trixie\n" in plan.images["base"].node.dockerfile


def test_equal_hash_is_cached_other_names_are_retagged_never_built(settings: Any, tmp_path: Path) -> None:
    first = plan_build(FakeEngine([], set()), settings, ["memcached"])
    base, memcached = first.images["base"].node, first.images["memcached"].node
    api = FakeEngine([summary("base", base.hash, "unit/base:epoxy"),
                      summary("memcached", memcached.hash, "berth/memcached:epoxy")], set())
    plan = plan_build(api, settings, ["memcached"])
    assert plan.images["base"].cached and plan.images["base"].tagged
    assert plan.images["memcached"].cached and not plan.images["memcached"].tagged
    assert not plan.needs_rootfs
    result = run_build(api, plan, BuildOptions(threads=2, logs_dir=tmp_path))
    assert {o.status for o in result.outcomes.values()} == {Status.CACHED}
    assert ("tag", "unit/memcached:epoxy") in api.calls
    assert ("tag", "unit/base:zed") not in api.calls


def test_a_stale_hash_is_not_cached_and_force_ignores_the_cache(settings: Any) -> None:
    first = plan_build(FakeEngine([], set()), settings, ["base"])
    fresh = summary("base", first.images["base"].node.hash, "unit/base:zed")
    assert not plan_build(FakeEngine([summary("base", "old", "unit/base:zed")], set()),
                          settings, ["base"]).images["base"].cached
    assert not plan_build(FakeEngine([fresh], set()), settings, ["base"],
                          force=True).images["base"].cached


def test_the_planner_lists_images_once(settings: Any) -> None:
    api = FakeEngine([], set())
    plan_build(api, settings, ["all"])
    assert len([c for c in api.calls if c[0] == "images" and c[1] == labels.IMAGE_HASH]) == 1


def test_package_lists_for_unknown_images_are_config_errors() -> None:
    bad = globals_model()(image_packages={"kestone": {"append": ["vim"]}}, debian_mirror="http://m.example/d")
    with pytest.raises(ConfigError) as info:
        plan_build(FakeEngine([], set()), bad, ["keystone"])
    assert "keystone" in info.value.details[0]


def test_package_lists_reach_the_rendered_recipe(settings: Any) -> None:
    custom = globals_model()(image_packages={"memcached": {"append": ["vim"], "remove": ["memcached"]}},
                             debian_mirror="http://m.example/d")
    plan = plan_build(FakeEngine([], set()), custom, ["memcached"])
    text = plan.images["memcached"].node.dockerfile
    assert "vim" in text and "memcached \\" not in text


def test_untagged_images_with_inherited_labels_are_never_the_cache(settings: Any) -> None:
    """A child's unfinished build leaves an untagged image carrying the parent's name and hash labels."""
    first = plan_build(FakeEngine([], set()), settings, ["base"])
    digest = first.images["base"].node.hash
    intermediate = summary("base", digest, "<none>:<none>")
    child_tagged = summary("base", digest, "berth/openstack-base:zed")
    plan = plan_build(FakeEngine([intermediate, child_tagged], set()), settings, ["base"])
    assert not plan.images["base"].cached
