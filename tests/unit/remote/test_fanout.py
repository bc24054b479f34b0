"""Every command over many hosts, decided per host from that host's facts (pure planners, no engine) and applied
in the right host order: facts in, plans and the order Ansible is asked to apply them out.

Ansible itself is replaced here by a recorder of the playbook runs asked for (the transport has its own tests
with real Ansible in test_transport.py, and tests/integration/test_multihost.py runs every command for real).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from berth.config.loader import Config
from berth.errors import NotFoundError
from berth.lifecycle import hostops
from berth.lifecycle.hostchecks import needs_of
from berth.plan.model import Action, Operation
from berth.remote import commands, deploy
from berth.remote.ansible import HostResult
from berth.state.actual import ActualContainer, ActualState
from berth.state.facts import HostFacts, HostNet
from berth.state.history import ContainerRecord, Entry
from tests.unit.threehosts import ADDRESSES, make_config_dir, three_hosts


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    root = tmp_path_factory.mktemp("fanout") / "etc"
    root.mkdir()
    return three_hosts(make_config_dir(root, "enable_heat: false\nenable_horizon: false\n"))


def running(*keys: str, state: str = "running") -> ActualState:
    return ActualState("unit", tuple(ActualContainer(f"id-{k}", f"unit-{k}", k, k.split("_")[0], state=state)
                                     for k in keys))


def test_stop_plans_only_the_hosts_running_containers_and_ships_no_secrets(config: Config) -> None:
    facts = HostFacts(running("nova_compute", "neutron_linuxbridge_agent"))
    hp = hostops.stop(config, "compute01", facts)
    assert hp.plan.operation is Operation.STOP
    assert {(c.host, c.name, c.action) for c in hp.plan.changes} == {
        ("compute01", "unit-nova_compute", Action.STOP), ("compute01", "unit-neutron_linuxbridge_agent", Action.STOP)}
    assert not hp.credentials and not hp.desired.containers and not hp.desired.secrets and hp.desired.services
    assert not any(secret in hp.dumps() for secret in config.passwords.values() if isinstance(secret, str) and secret)


def test_destroy_plans_what_the_host_reported(config: Config) -> None:
    actual = ActualState("unit", running("nova_compute").containers, images={"r/berth/nova-compute:zed": "sha256:1"},
                         volumes={"unit_nova_compute": "v1"})
    net = HostNet(links=("eth1", "qbr1234", "qvo1234", "unit-int"), namespaces=("qdhcp-1", "other"),
                  rules=("-A DOCKER-USER -i qbr+ -o qbr+ -j ACCEPT",))   # epoxy, the default: ML2/OVS
    hp = hostops.destroy(config, "compute01", HostFacts(actual, networks={"unit_net": "n1"}, net=net, state_dir=True))
    objects = {(o.kind, o.name) for o in hp.plan.objects}
    assert {("volume", "unit_nova_compute"), ("network", "unit_net"), ("vifs", "qbr,qvo,qvb"), ("link", "unit-int"),
            ("netns", "qdhcp-1"), ("iptables", "DOCKER-USER -i qbr+ -o qbr+ -j ACCEPT")} <= objects
    assert ("link", "eth1") not in objects and ("netns", "other") not in objects
    assert ("state", str(config.deployment_dir)) in objects
    assert [c.action for c in hp.plan.changes] == [Action.REMOVE]
    empty = hostops.destroy(config, "compute02", HostFacts(ActualState("unit")))
    assert not empty.plan.has_changes  # a host with nothing of the deployment is not contacted again


def _entry(number: int, image: str, image_id: str) -> Entry:
    record = ContainerRecord("memcached", "unit-memcached", image, image_id, f"c{number}", f"s{number}",
                             spec={"image": image})
    return Entry(number, float(number), "memcached", "deploy", (record,))


def test_rollback_plans_each_host_from_its_own_history(config: Config) -> None:
    now = ActualState("unit", (ActualContainer("id-m", "unit-memcached", "memcached", "memcached",
                                               image_id="sha256:new", spec_hash="s2", config_hash="c2"),))
    history = (_entry(1, "r/berth/memcached:zed", "sha256:old"), _entry(2, "r/berth/memcached:zed2", "sha256:new"))
    hp = hostops.rollback_host(config, "control01", HostFacts(now, history=history,
                                                              image_ids=frozenset({"sha256:old"})), "memcached", None)
    assert [(c.host, c.action, c.image_id) for c in hp.plan.changes] == [("control01", Action.SWAP, "sha256:old")]
    assert [c.image for c in hp.desired.containers] == ["r/berth/memcached:zed"] and not hp.plan.blockers
    with pytest.raises(NotFoundError, match="no earlier history entry"):
        hostops.rollback_host(config, "compute01", HostFacts(now, history=history[:1]), "memcached", None)


def test_an_upgrade_dumps_a_services_databases_once_where_they_are_made_over_the_network_if_need_be(
        config: Config) -> None:
    hp = hostops.upgrade_host(config, "control01", HostFacts(ActualState("unit")), ["keystone"], False, "zed")
    backup = next(s for s in hp.plan.steps if s.kind == "backup")
    assert backup.host == "control01" and backup.payload["databases"] == ["keystone"]
    assert backup.payload["server"] == {"host": ADDRESSES["control01"], "port": 3306,
                                        "admin_password": "database_password"}
    assert "database_password" in hp.credentials
    compute = hostops.upgrade_host(config, "compute01", HostFacts(ActualState("unit")), ["nova"], False, "zed")
    assert all(s.payload.get("databases") in (None, []) for s in compute.plan.steps if s.kind == "backup")


def test_a_hosts_pins_come_from_that_host(config: Config) -> None:
    pinned = ActualState("unit", pins={"memcached": "zed2"})
    hp = hostops.deploy(config, "control01", HostFacts(pinned))
    assert next(c.image for c in hp.desired.containers if c.key == "memcached").endswith("/memcached:zed2")
    plain = hostops.deploy(config, "control01", HostFacts(ActualState("unit")))
    assert next(c.image for c in plain.desired.containers if c.key == "memcached").endswith("/memcached:epoxy")


# --- order and failures across hosts, with Ansible replaced by a recorder -------------------------------------------


class Recorder:
    """Stands in for run_playbook: records (playbook, hosts) and answers per host from `answers`."""

    def __init__(self, answers: Mapping[str, Any] | None = None) -> None:
        self.runs: list[tuple[str, list[str]]] = []
        self.answers = dict(answers or {})

    def __call__(self, name: str, inventory: Path, hosts: Sequence[str], extravars: Mapping[str, Any],
                 on_event: Any = None) -> dict[str, HostResult]:
        self.runs.append((name, list(hosts)))
        out = {}
        for host in hosts:
            ok = self.answers.get((name, host), True)
            results = {"ok": ok, "elapsed": 1.0, "services": {"memcached": {"status": "succeeded"}}, "objects": []}
            out[host] = HostResult(host, "ok" if ok else "failed", stdout=json.dumps({"results": results}),
                                   stderr="" if ok else "error: pulling r/berth/memcached:zed2 failed", rc=0 if ok else 7)
        return out


def _planned_run(config: Config, operation: str, monkeypatch: pytest.MonkeyPatch, recorder: Recorder
                 ) -> tuple[deploy.Run, dict[str, Any]]:
    monkeypatch.setattr(deploy, "run_playbook", recorder)
    run = deploy.Run(config, Path("inventory"), operation=operation, reverse=operation in ("stop", "destroy"))
    hosts = deploy.targeted_hosts(config, None, None)
    run.waits = deploy.targets.waits_for(config, deploy.targets.services_by_host(config, None))
    plans = {h: hostops.stop(config, h, HostFacts(running("memcached" if h == "control01" else "nova_compute")))
             for h in hosts}
    for host, plan in plans.items():
        run.reports[host] = deploy.HostReport(host, "planned", plan=plan)
    return run, plans


def test_stop_goes_through_the_hosts_in_reverse_wave_order_serially(config: Config,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    run, plans = _planned_run(config, "stop", monkeypatch, recorder)
    deploy.apply_all(run, plans, serial=1)
    assert recorder.runs == [("apply", ["compute01"]), ("apply", ["compute02"]), ("apply", ["control01"])]
    assert {r.status for r in run.reports.values()} == {"applied"}
    assert run.reports["control01"].message.startswith("stopped memcached")


def test_an_upgrade_pulls_everywhere_first_and_changes_nothing_when_a_host_cannot_pull(
        config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    from berth.cli.many import pull_everywhere
    from berth.plan.model import ObjectChange

    recorder = Recorder({("apply", "compute02"): False})
    run, plans = _planned_run(config, "upgrade", monkeypatch, recorder)
    pull = ObjectChange("image", "r/berth/memcached:zed2", "pull")
    plans = {h: p.with_actual(p.actual, p.plan.__class__(**{**p.plan.__dict__, "objects": (pull,)}))
             for h, p in plans.items()}
    assert pull_everywhere(run, plans) is False
    assert recorder.runs == [("apply", ["control01", "compute01", "compute02"])]  # one run, every host at once
    assert run.reports["compute02"].status == "failed" and "images not pulled" in run.reports["compute02"].message
    assert {run.reports[h].status for h in ("control01", "compute01")} == {"skipped"}
    assert "nothing was stopped anywhere" in run.reports["control01"].message


def test_a_host_that_cannot_be_planned_is_named_and_the_others_are_planned(config: Config,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def answer(name: str, inventory: Path, hosts: Sequence[str], extravars: Mapping[str, Any],
               on_event: Any = None) -> dict[str, HostResult]:
        assert extravars["berth_observe_args"] == "--facts"
        data = {"version": deploy.OBSERVATION_VERSION, "hostname": "x", "actual": {"deployment": "unit"},
                "extra": {"history": []}}
        return {h: HostResult(h, "ok", stdout=json.dumps(data)) for h in hosts}

    monkeypatch.setattr(deploy, "run_playbook", answer)
    run = deploy.Run(config, Path("inventory"), ["memcached"], operation="rollback", facts=True,
                     planner=lambda h, f: hostops.rollback_host(config, h, f, "memcached", None))
    plans = deploy.plan_all(run, ["control01"])
    assert plans == {} and run.reports["control01"].status == "failed"
    assert run.reports["control01"].message.startswith("cannot be planned: service memcached has no earlier")


# --- prechecks, logs, versions ---------------------------------------------------------------------------------------


def test_a_hosts_needs_are_the_ports_and_devices_of_its_own_containers_at_its_address(config: Config) -> None:
    from berth.lifecycle.hostplans import host_plan

    control = needs_of(config, "control01", host_plan(config, "control01", ActualState("unit")).desired)
    assert {p.address for p in control.ports} == {ADDRESSES["control01"]}
    assert {("mariadb", 3306), ("memcached", 11211)} <= {(p.container, p.number) for p in control.ports}
    desired = host_plan(config, "compute02", ActualState("unit")).desired
    compute = needs_of(config, "compute02", desired)
    assert {p.container for p in compute.ports} <= {c.key for c in desired.containers}
    assert "mariadb" not in {p.container for p in compute.ports}
    devices = {str(d).split(":")[0] for c in desired.containers for d in c.spec.get("devices") or ()}
    assert set(compute.devices) == devices
    assert compute.state_dir == str(config.globals.state_dir) and json.loads(compute.dumps())["host"] == "compute02"


@pytest.mark.parametrize("target, message", [
    ("memcached", "name the container as HOST/CONTAINER"),
    ("nohost/memcached", "no host `nohost` in the inventory"),
    ("control01/", "name the container as HOST/CONTAINER"),
])
def test_a_log_target_names_a_host_of_the_inventory(target: str, message: str) -> None:
    with pytest.raises(NotFoundError, match=message):
        commands.split_target(target, ["control01", "compute01"])
    assert commands.split_target("compute01/nova_compute", ["compute01"]) == ("compute01", "nova_compute")


def test_a_host_with_another_berth_version_is_named_before_anything_is_installed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from berth import __version__

    answers = {"h1": f"berth, version {__version__}", "h2": "berth, version 0.0.1"}
    monkeypatch.setattr(commands, "run_playbook", lambda name, inventory, hosts, extravars: {
        h: HostResult(h, "ok", stdout=answers[h]) for h in hosts})
    found = commands.versions(Path("inventory"), ["h1", "h2"])
    assert found["h1"].ok and not found["h2"].ok
    assert found["h2"].message == f"berth 0.0.1, this host runs {__version__}"


def test_a_log_read_on_another_host_is_masked_here(config: Config, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from berth.cli.main import main

    secret = str(config.passwords.get("database_password"))
    asked = []
    monkeypatch.setattr(commands, "run_playbook", lambda name, inventory, hosts, extravars: asked.append(
        extravars["berth_args"]) or {h: HostResult(h, "ok", stdout=f"connected with {secret}\nready") for h in hosts})
    inventory = config.config_dir / "multinode"
    assert main(["--config-dir", str(config.config_dir), "-i", str(inventory), "logs", "control01/mariadb",
                 "--tail", "5"]) == 0
    out = capsys.readouterr().out
    assert secret not in out and out.splitlines() == ["connected with ********", "ready"]
    assert asked == [{"control01": "logs --deployment unit --tail 5 mariadb"}]  # no secret goes to Ansible
    assert main(["--config-dir", str(config.config_dir), "-i", str(inventory), "logs", "-f", "control01/mariadb"]) == 2


def test_prechecks_accept_a_per_host_override_of_an_inventory_host(tmp_path: Path) -> None:
    from berth.lifecycle.prechecks import config_check

    config = three_hosts(make_config_dir(tmp_path))
    override = tmp_path / "config" / "mariadb" / "host" / "control01" / "berth.cnf"
    override.parent.mkdir(parents=True)
    override.write_text("[mysqld]\nmax_connections = 700\n")
    found = config_check(config)
    assert found.ok, found.message
    wrong = tmp_path / "config" / "mariadb" / "host" / "nosuchhost" / "berth.cnf"
    wrong.parent.mkdir(parents=True)
    wrong.write_text("[mysqld]\nmax_connections = 700\n")
    found = config_check(config)
    assert not found.ok and "nosuchhost" in found.message
