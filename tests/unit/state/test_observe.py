"""Turning engine list rows into facts: labels, health from the status text, applied restarts, volumes."""

from __future__ import annotations

import json

import pytest

from berth.engine.base import ImageInfo, VolumeInfo
from berth.engine.docker_engine import container_from_row
from berth.engine.memory import MemoryEngine
from berth.state.hashing import config_hash, spec_hash
from berth.state.observe import _container as _from_info
from berth.state.observe import image_refs, observe, read_config_dir, volume_identity

ROW = {"Id": "abc", "Names": ["/keystone"], "ImageID": "sha256:img", "State": "running",
       "Status": "Up 3 minutes (healthy)",
       "Labels": {"berth.container": "keystone", "berth.service": "keystone", "berth.config-hash": "h1",
                  "berth.spec-hash": "s1", "berth.spec": json.dumps({"init": True}), "berth.role": "service"}}


def _container(row, applied, root):
    return _from_info(container_from_row(row), applied, root)


@pytest.mark.parametrize("status,health", [
    ("Up 3 minutes (healthy)", "healthy"), ("Up 1 second (health: starting)", "starting"),
    ("Up 2 hours (unhealthy)", "unhealthy"), ("Up 2 hours", None), ("Exited (1) 3 seconds ago", None),
])
def test_health_from_status_text(tmp_path, status, health):
    assert _container({**ROW, "Status": status}, {}, tmp_path).health == health


def test_labels_become_facts(tmp_path):
    c = _container(ROW, {}, tmp_path)
    assert (c.key, c.service, c.config_hash, c.spec_hash, c.spec, c.running) == \
        ("keystone", "keystone", "h1", "s1", {"init": True}, True)


def test_a_recorded_restart_overrides_the_label_for_that_container_only(tmp_path):
    assert _container(ROW, {"abc": "h2"}, tmp_path).config_hash == "h2"
    assert _container(ROW, {"other": "h2"}, tmp_path).config_hash == "h1"


def test_config_files_are_read_for_diffs(tmp_path):
    (tmp_path / "keystone").mkdir()
    (tmp_path / "keystone" / "keystone.conf").write_text("[DEFAULT]\n")
    assert _container(ROW, {}, tmp_path).files == {"keystone.conf": "[DEFAULT]\n"}
    assert read_config_dir(tmp_path / "missing") == {}


def test_image_refs_skip_untagged():
    images = [ImageInfo("sha256:1", ("berth/keystone:zed",)), ImageInfo("sha256:2"),
              ImageInfo("sha256:3", ("<none>:<none>",))]
    assert image_refs(images) == {"berth/keystone:zed": "sha256:1"}


def test_volume_identity_prefers_berth_label():
    assert volume_identity(VolumeInfo("v", {"berth.volume-id": "x"}, "t")) == "x"
    assert volume_identity(VolumeInfo("v", {}, "t")) == "t"


def test_observe_lists_only_this_deployment(tmp_path):
    engine = MemoryEngine()
    engine.add_image("berth/keystone:zed", "sha256:k")
    engine.add_container("keystone", "berth/keystone:zed", {**ROW["Labels"], "berth.deployment": "one"})
    engine.add_container("two-keystone", "berth/keystone:zed", {"berth.deployment": "two"})
    engine.create_volume("one_data", {"berth.deployment": "one", "berth.volume-id": "v1"})
    actual = observe(engine, "one", tmp_path)
    assert [c.name for c in actual.containers] == ["keystone"] and actual.containers[0].image_id == "sha256:k"
    assert actual.images == {"berth/keystone:zed": "sha256:k"} and actual.volumes == {"one_data": "v1"}


def test_hashes_change_with_each_input():
    spec, files = {"a": 1}, {"f": "x"}
    base = config_hash(spec, "i", files)
    assert config_hash({"a": 2}, "i", files) != base
    assert config_hash(spec, "j", files) != base
    assert config_hash(spec, "i", {"f": "y"}) != base
    assert config_hash(dict(reversed(list({"a": 1, "b": 2}.items()))), "i", files) == \
        config_hash({"a": 1, "b": 2}, "i", files)
    assert spec_hash(spec, "i") == spec_hash(spec, "i") != spec_hash(spec, "j")
