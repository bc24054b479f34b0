"""A release change's pure parts: which services follow the release, in which order, what stays pinned, and
which history entry the rollback returns to."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.config.loader import load_config
from berth.lifecycle import release_change
from berth.state.actual import ActualContainer, ActualState
from berth.state.facts import HostFacts
from berth.state.history import RELEASE_NOTE, Entry, release_target


@pytest.fixture
def config(tmp_path: Path):  # type: ignore[no-untyped-def]
    from berth.cli.main import main

    (tmp_path / "globals.yml").write_text(f"deployment_name: unit\napi_address: 127.0.0.1\n"
                                          f"state_dir: {tmp_path}/state\n")
    assert main(["--quiet", "--config-dir", str(tmp_path), "genpwd"]) == 0
    return load_config(tmp_path)


def test_openstack_follows_the_release_in_dependency_order_infrastructure_does_not(config) -> None:  # type: ignore[no-untyped-def]
    services = release_change.release_services(config)
    assert not {"mariadb", "rabbitmq", "memcached"} & set(services)
    assert services.index("keystone") < services.index("glance") < services.index("nova")
    assert services.index("keystone") < services.index("horizon")


def test_infrastructure_is_kept_on_the_tag_it_runs(config) -> None:  # type: ignore[no-untyped-def]
    running = ActualContainer(id="1", name="unit-mariadb", key="mariadb", service="mariadb",
                              spec={"image": "berth/mariadb:zed"})
    facts = HostFacts(ActualState("unit", containers=(running,), pins={"memcached": "zed-2"}))
    assert release_change.kept_tags(config, facts) == {"mariadb": "zed", "memcached": "zed-2"}


def test_with_release_changes_tag_and_suite_and_remembers_the_release_left(config) -> None:  # type: ignore[no-untyped-def]
    zed = release_change.with_release(config, "zed")
    assert (zed.globals.openstack_release, zed.globals.image_tag, zed.globals.base_distro_release) == \
        ("zed", "zed", "bookworm")
    assert release_change.settled(zed).upgrading_from is None


def test_an_upgrade_to_a_release_that_lacks_an_enabled_service_is_refused(tmp_path: Path) -> None:
    """Murano runs on Zed only: a Zed cloud with it enabled is not upgraded to Epoxy (it would lose Murano's
    containers on the way); the refusal names the switch's line and the way out."""
    from berth.cli.main import main
    from berth.config.release import record_release
    from berth.errors import ConfigError

    (tmp_path / "globals.yml").write_text(f"deployment_name: unit\napi_address: 127.0.0.1\n"
                                          f"state_dir: {tmp_path}/state\nenable_murano: true\n")
    assert main(["--quiet", "--config-dir", str(tmp_path), "genpwd"]) == 0
    record_release(tmp_path / "state" / "unit", "zed")  # the cloud runs Zed: globals.yml says no release
    zed = load_config(tmp_path)
    assert zed.globals.openstack_release == "zed"
    with pytest.raises(ConfigError) as info:
        release_change.check_upgrade(zed, "epoxy")
    assert "OpenStack epoxy lacks 1 enabled service(s): nothing was changed" in info.value.message
    assert "disable them" in str(info.value.hint)
    [problem] = info.value.details
    assert problem.startswith(f"{tmp_path}/globals.yml:4: enable_murano: murano is not available for OpenStack "
                              "epoxy")


def entry(id: int, service: str, kind: str, note: str = "") -> Entry:
    return Entry(id=id, time=float(id), service=service, kind=kind, note=note)


def test_the_rollback_returns_to_the_entry_before_the_release_upgrade() -> None:
    note = RELEASE_NOTE.format(source="zed", target="epoxy")
    entries = [entry(1, "nova", "deploy"), entry(2, "nova", "upgrade", "to zed-2"), entry(3, "keystone", "deploy"),
               entry(4, "nova", "upgrade", note), entry(5, "nova", "upgrade", "to epoxy-2")]
    target = release_target(entries, "nova", "zed")
    assert target is not None and target.id == 2  # the patch upgrade after it is undone too
    assert release_target(entries, "keystone", "zed") is None  # never left zed
    assert release_target(entries, "nova", "epoxy") is None
