"""Which hosts a many-hosts deploy touches (--limit), in which waves, in which batches (--serial). Pure."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.errors import ConfigError
from berth.remote import targets
from berth.services.registry import enable_key, service_names
from tests.unit.threehosts import make_config_dir, three_hosts

CONTROL_ONLY = ("mariadb", "memcached", "keystone")


def switches(enabled: tuple[str, ...]) -> str:
    return "".join(f"{enable_key(n)}: {str(n in enabled).lower()}\n" for n in service_names())


@pytest.fixture
def config(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The default services: nova and neutron put containers on the computes too."""
    return three_hosts(make_config_dir(tmp_path))


def test_hosts_that_run_something_in_inventory_order(config) -> None:  # type: ignore[no-untyped-def]
    running = targets.services_by_host(config)
    assert list(running) == ["compute01", "compute02", "control01"]  # berth's inventory lists hosts sorted
    assert "nova" in running["compute01"] and "mariadb" not in running["compute01"]
    assert {"mariadb", "keystone", "nova"} <= running["control01"]


def test_a_deployment_on_control_hosts_only_targets_them(tmp_path: Path) -> None:
    config = three_hosts(make_config_dir(tmp_path, switches(CONTROL_ONLY)))
    assert list(targets.services_by_host(config)) == ["control01"]
    assert list(targets.services_by_host(config, ["memcached"])) == ["control01"]


def test_computes_wait_for_the_host_where_what_they_run_is_bootstrapped(config) -> None:  # type: ignore[no-untyped-def]
    waits = targets.waits_for(config, targets.services_by_host(config))
    assert waits == {"control01": set(), "compute01": {"control01"}, "compute02": {"control01"}}
    assert targets.waves(["control01", "compute01", "compute02"], waits) == [["control01"], ["compute01", "compute02"]]


def test_targets_are_listed_in_the_order_they_are_applied(config) -> None:  # type: ignore[no-untyped-def]
    from berth.remote.deploy import targeted_hosts

    assert targeted_hosts(config, None, None) == ["control01", "compute01", "compute02"]
    assert targeted_hosts(config, None, "compute") == ["compute01", "compute02"]


def test_a_second_control_host_waits_for_the_first() -> None:
    waits = {"c1": set(), "c2": {"c1"}, "n1": {"c1"}, "k1": {"c1"}}
    assert targets.waves(["c1", "c2", "n1", "k1"], waits) == [["c1"], ["c2", "n1", "k1"]]


def test_waits_on_hosts_outside_the_target_are_ignored() -> None:
    """--limit compute: the control host is not applied, the computes go at once."""
    assert targets.waves(["k1", "k2"], {"k1": {"c1"}, "k2": {"c1"}}) == [["k1", "k2"]]


def test_hosts_waiting_for_each_other_share_a_wave() -> None:
    waits = {"a": set(), "b": {"c", "a"}, "c": {"b"}}
    assert targets.waves(["a", "b", "c"], waits) == [["a"], ["b", "c"]]


@pytest.mark.parametrize("serial, expected", [
    (None, [["a", "b", "c"]]), (1, [["a"], ["b"], ["c"]]), (2, [["a", "b"], ["c"]]), (5, [["a", "b", "c"]]),
])
def test_serial_cuts_a_wave_into_batches(serial: int | None, expected: list[list[str]]) -> None:
    assert targets.batches(["a", "b", "c"], serial) == expected


@pytest.mark.parametrize("limit, expected", [
    (None, ["control01", "compute01", "compute02"]),
    ("compute01", ["compute01"]),
    ("compute", ["compute01", "compute02"]),
    ("control,compute02", ["control01", "compute02"]),
    ("network", ["control01"]),  # a group whose hosts come through children
    (" compute02 , ", ["compute02"]),
])
def test_limit_names_hosts_or_groups(config, limit: str | None, expected: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert targets.select(config, ["control01", "compute01", "compute02"], limit) == expected


def test_limit_to_an_unknown_name_is_refused_with_what_exists(config) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as caught:
        targets.select(config, ["control01"], "compute03")
    assert "compute03" in caught.value.message and "compute01" in (caught.value.hint or "")


def test_limit_to_hosts_that_run_nothing_is_refused(config) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="none of these hosts"):
        targets.select(config, ["control01"], "storage,compute")


def test_hosts_waiting_for_a_failed_host_directly_or_not() -> None:
    waits = {"c1": set(), "c2": {"c1"}, "k1": {"c2"}, "k2": set()}
    assert targets.dependents("c1", waits) == {"c2", "k1"}
    assert targets.dependents("k2", waits) == set()


def test_only_inventories_with_hosts_reached_through_ansible_take_the_many_hosts_path(tmp_path: Path) -> None:
    from berth.cli.many import is_remote
    from berth.config.loader import load_config

    root = make_config_dir(tmp_path)
    assert is_remote(three_hosts(root))
    assert not is_remote(load_config(root))  # the built-in all-in-one
    local = tmp_path / "local"
    local.write_text("[control]\nnode ansible_connection=local\n[network:children]\ncontrol\n[compute:children]\n"
                     "control\n[storage]\n[monitoring]\n[deployment]\nnode\n")
    assert not is_remote(load_config(root, inventory_path=local))


def test_what_every_host_runs_on_its_own_makes_no_host_wait(tmp_path: Path) -> None:
    """logrotate (per_host) runs on all three hosts: with only it and memcached enabled, the computes (which run
    logrotate alone) wait for nobody."""
    config = three_hosts(make_config_dir(tmp_path, switches(("memcached", "logrotate"))))
    running = targets.services_by_host(config)
    assert running["compute01"] == {"logrotate"} and running["control01"] == {"memcached", "logrotate"}
    assert targets.waits_for(config, running) == {"control01": set(), "compute01": set(), "compute02": set()}


def test_the_central_logs_are_read_on_a_monitoring_host_with_its_own_log_dir(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from berth.remote.commands import central_logs_args

    root = make_config_dir(tmp_path, switches(("central-logging",)))
    inventory = root / "multinode"
    inventory.write_text(inventory.read_text().replace("[monitoring]\n", "[monitoring]\ncontrol01\n"))
    config = three_hosts(root)
    since = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    args = central_logs_args(config, "control01", since, "GET /v3", ["compute01"], ["nova"])
    assert args == (f"--json logs --all --deployment {config.globals.deployment_name} --log-dir {tmp_path}/log "
                    "--since 2026-12-02T10:00:00+00:00 --grep 'GET /v3' --host compute01 --service nova")
