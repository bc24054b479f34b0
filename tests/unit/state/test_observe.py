"""Turning engine list rows into facts: labels, health from the status text, applied restarts, volumes."""

from __future__ import annotations

import json

import pytest

from berth.state.hashing import config_hash, spec_hash
from berth.state.observe import _container, image_refs, read_config_dir, volume_identity

ROW = {"Id": "abc", "Names": ["/keystone"], "ImageID": "sha256:img", "State": "running",
       "Status": "Up 3 minutes (healthy)",
       "Labels": {"berth.container": "keystone", "berth.service": "keystone", "berth.config-hash": "h1",
                  "berth.spec-hash": "s1", "berth.spec": json.dumps({"init": True}), "berth.role": "service"}}


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
    images = [{"Id": "sha256:1", "RepoTags": ["berth/keystone:zed"]}, {"Id": "sha256:2", "RepoTags": None},
              {"Id": "sha256:3", "RepoTags": ["<none>:<none>"]}]
    assert image_refs(images) == {"berth/keystone:zed": "sha256:1"}


def test_volume_identity_prefers_berth_label():
    assert volume_identity({"Labels": {"berth.volume-id": "x"}, "CreatedAt": "t"}) == "x"
    assert volume_identity({"Labels": None, "CreatedAt": "t"}) == "t"


def test_hashes_change_with_each_input():
    spec, files = {"a": 1}, {"f": "x"}
    base = config_hash(spec, "i", files)
    assert config_hash({"a": 2}, "i", files) != base
    assert config_hash(spec, "j", files) != base
    assert config_hash(spec, "i", {"f": "y"}) != base
    assert config_hash(dict(reversed(list({"a": 1, "b": 2}.items()))), "i", files) == \
        config_hash({"a": 1, "b": 2}, "i", files)
    assert spec_hash(spec, "i") == spec_hash(spec, "i") != spec_hash(spec, "j")
