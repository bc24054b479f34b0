"""Cache decisions: one listing by label decides cached / re-tag / build; cached images never call build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from berth.config.globals import globals_model
from berth.engine import labels
from berth.errors import ConfigError
from berth.images.builder import BuildOptions, plan_build, run_build
from berth.run.events import Status


class FakeAPI:
    """Just the engine calls the planner makes: image lookups by name and by label."""

    def __init__(self, images: list[dict[str, Any]], present: set[str]) -> None:
        self.listed = images
        self.present = present
        self.calls: list[tuple[str, Any]] = []

    def images(self, name: str | None = None, quiet: bool = False, filters: Any = None) -> list[Any]:
        self.calls.append(("images", name or filters))
        if filters:
            return self.listed
        return ["sha256:x"] if name in self.present else []

    def tag(self, image: str, repo: str, tag: str, force: bool = False) -> bool:
        self.calls.append(("tag", f"{repo}:{tag}"))
        return True

    def build(self, **kwargs: Any) -> Any:
        raise AssertionError("a cached image must not be built")


class FakeClient:
    def __init__(self, api: FakeAPI) -> None:
        self.api = api


def summary(name: str, digest: str, *tags: str) -> dict[str, Any]:
    return {"Id": f"sha256:{name}", "RepoTags": list(tags),
            "Labels": {labels.IMAGE_NAME: name, labels.IMAGE_HASH: digest}}


@pytest.fixture
def settings() -> Any:
    return globals_model()(image_namespace="unit", debian_mirror="http://mirror.example/debian")


def test_nothing_built_means_everything_missing_and_a_rootfs(settings: Any) -> None:
    plan = plan_build(FakeClient(FakeAPI([], set())), settings, ["memcached"])  # type: ignore[arg-type]
    assert list(plan.images) == ["base", "memcached"]
    assert not any(p.cached for p in plan.images.values())
    assert plan.needs_rootfs and plan.rootfs.ref == "berth/rootfs:bookworm"


def test_debian_image_is_used_when_present(settings: Any) -> None:
    plan = plan_build(FakeClient(FakeAPI([], {"debian:bookworm"})), settings, ["base"])  # type: ignore[arg-type]
    assert plan.rootfs.ref == "debian:bookworm" and not plan.needs_rootfs
    assert "\nFROM debian:bookworm\n" in plan.images["base"].node.dockerfile


def test_equal_hash_is_cached_other_names_are_retagged_never_built(settings: Any, tmp_path: Path) -> None:
    first = plan_build(FakeClient(FakeAPI([], set())), settings, ["memcached"])  # type: ignore[arg-type]
    base, memcached = first.images["base"].node, first.images["memcached"].node
    api = FakeAPI([summary("base", base.hash, "unit/base:zed"),
                   summary("memcached", memcached.hash, "berth/memcached:zed")], set())
    plan = plan_build(FakeClient(api), settings, ["memcached"])  # type: ignore[arg-type]
    assert plan.images["base"].cached and plan.images["base"].tagged
    assert plan.images["memcached"].cached and not plan.images["memcached"].tagged
    assert not plan.needs_rootfs
    result = run_build(FakeClient(api), plan, BuildOptions(threads=2, logs_dir=tmp_path))  # type: ignore[arg-type]
    assert {o.status for o in result.outcomes.values()} == {Status.CACHED}
    assert ("tag", "unit/memcached:zed") in api.calls
    assert ("tag", "unit/base:zed") not in api.calls


def test_a_stale_hash_is_not_cached_and_force_ignores_the_cache(settings: Any) -> None:
    first = plan_build(FakeClient(FakeAPI([], set())), settings, ["base"])  # type: ignore[arg-type]
    fresh = summary("base", first.images["base"].node.hash, "unit/base:zed")
    assert not plan_build(FakeClient(FakeAPI([summary("base", "old", "unit/base:zed")], set())),  # type: ignore[arg-type]
                          settings, ["base"]).images["base"].cached
    assert not plan_build(FakeClient(FakeAPI([fresh], set())), settings, ["base"],  # type: ignore[arg-type]
                          force=True).images["base"].cached


def test_the_planner_lists_images_once(settings: Any) -> None:
    api = FakeAPI([], set())
    plan_build(FakeClient(api), settings, ["all"])  # type: ignore[arg-type]
    assert len([c for c in api.calls if c[0] == "images" and isinstance(c[1], dict)]) == 1


def test_package_lists_for_unknown_images_are_config_errors() -> None:
    bad = globals_model()(image_packages={"kestone": {"append": ["vim"]}}, debian_mirror="http://m.example/d")
    with pytest.raises(ConfigError) as info:
        plan_build(FakeClient(FakeAPI([], set())), bad, ["keystone"])  # type: ignore[arg-type]
    assert "keystone" in info.value.details[0]


def test_package_lists_reach_the_rendered_recipe(settings: Any) -> None:
    custom = globals_model()(image_packages={"memcached": {"append": ["vim"], "remove": ["memcached"]}},
                             debian_mirror="http://m.example/d")
    plan = plan_build(FakeClient(FakeAPI([], set())), custom, ["memcached"])  # type: ignore[arg-type]
    text = plan.images["memcached"].node.dockerfile
    assert "vim" in text and "memcached \\" not in text


def test_untagged_images_with_inherited_labels_are_never_the_cache(settings: Any) -> None:
    """A child's unfinished build leaves an untagged image carrying the parent's name and hash labels."""
    first = plan_build(FakeClient(FakeAPI([], set())), settings, ["base"])  # type: ignore[arg-type]
    digest = first.images["base"].node.hash
    intermediate = summary("base", digest, "<none>:<none>")
    child_tagged = summary("base", digest, "berth/openstack-base:zed")
    plan = plan_build(FakeClient(FakeAPI([intermediate, child_tagged], set())), settings, ["base"])  # type: ignore[arg-type]
    assert not plan.images["base"].cached
