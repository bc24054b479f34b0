"""Which release a deployment runs and what it decides: pure functions, no engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.config.release import (
    effective_updates,
    record_release,
    recorded_release,
    release_mismatch,
    suite_of,
    unsupported_services,
)
from berth.errors import ConfigError


def test_a_release_decides_suite_and_tag() -> None:
    assert effective_updates(None, None, None, None) == {"openstack_release": "epoxy", "image_tag": "epoxy",
                                                         "base_distro_release": "trixie"}
    assert effective_updates(None, None, None, "zed")["base_distro_release"] == "bookworm"
    assert effective_updates("epoxy", None, None, "zed")["openstack_release"] == "epoxy"  # explicit wins
    assert effective_updates("zed", "zed-2", None, None)["image_tag"] == "zed-2"


def test_a_suite_that_does_not_carry_the_release_is_refused() -> None:
    with pytest.raises(ConfigError, match="does not carry OpenStack epoxy"):
        effective_updates("epoxy", None, "bookworm", None)
    with pytest.raises(ConfigError, match="unknown OpenStack release"):
        suite_of("havana")


def test_the_recorded_release_and_the_legacy_default(tmp_path: Path) -> None:
    from berth.state.history import ContainerRecord, Entry, History

    assert recorded_release(tmp_path) is None  # never deployed
    record = ContainerRecord(key="keystone", name="keystone", image="berth/keystone:epoxy", image_id="sha256:1",
                             config_hash="c", spec_hash="s")
    History(tmp_path).add(Entry(id=0, time=0.0, service="keystone", kind="deploy", containers=(record,)))
    assert recorded_release(tmp_path) is None  # history from `apply-plan` of epoxy images: nothing recorded
    zed = record.__class__(**{**record.__dict__, "image": "berth/keystone:zed"})
    History(tmp_path).add(Entry(id=0, time=1.0, service="keystone", kind="deploy", containers=(zed,)))
    assert recorded_release(tmp_path) == "zed"  # deployed before releases were recorded: only zed existed
    record_release(tmp_path, "epoxy")
    assert recorded_release(tmp_path) == "epoxy"


def test_deploying_another_release_over_a_running_cloud_names_the_command() -> None:
    assert release_mismatch("epoxy", None, True) is None
    assert release_mismatch("epoxy", "zed", False) is None  # implicit: the running release is used instead
    up = release_mismatch("epoxy", "zed", True)
    assert up is not None and "`berth upgrade --release epoxy`" in up and "openstack_release: zed" in up
    down = release_mismatch("zed", "epoxy", True)
    assert down is not None and "`berth rollback --release zed --restore-database`" in down


def test_every_service_folder_deploys_both_releases_but_murano() -> None:
    """Murano was retired upstream in 2024: Debian carries it up to bookworm (Zed) only."""
    from berth.state.model import deployable_services

    services = deployable_services()
    assert [p.split(":")[1].strip() for p in unsupported_services("epoxy", services)] == ["enable_murano"]
    assert unsupported_services("zed", services) == []


def test_a_service_the_release_lacks_is_refused_at_its_switch_with_both_fixes() -> None:
    lines = {"enable_murano": 7}
    [problem] = unsupported_services("epoxy", ["keystone", "murano"], lambda key: f"etc/globals.yml:{lines[key]}",
                                     " (the default release)")
    assert problem.startswith("etc/globals.yml:7: enable_murano: murano is not available for OpenStack epoxy "
                              "(the default release): its folder deploys zed only")
    assert "set `enable_murano: false`, or set `openstack_release: zed` for a new deployment" in problem
