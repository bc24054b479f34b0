"""The many-hosts deploy through real Ansible (ansible-runner) with a stand-in berth on local-connection hosts:
the plays, their variables, what comes back, waves, and how failed and unreachable hosts are reported.

No SSH server and no engine: each "host" is Ansible's local connection running tests/unit/remote/fakeberth.py;
the unreachable one is an SSH connection to a closed loopback port.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from berth.remote import deploy
from berth.remote.ansible import run_playbook
from tests.unit.threehosts import make_config_dir, three_hosts

pytest.importorskip("ansible_runner")
pytestmark = pytest.mark.timeout(120)

FAKE = Path(__file__).with_name("fakeberth.py")


def ansible_inventory(tmp: Path, modes: dict[str, str]) -> Path:
    """control01, compute01, compute02 as Ansible sees them: local, or `down` (nothing listens on port 1)."""
    lines = ["[all]"]
    for host, mode in modes.items():
        if mode == "down":
            lines.append(f"{host} ansible_connection=ssh ansible_host=127.0.0.1 ansible_port=1")
            continue
        command = " ".join(shlex.quote(w) for w in (sys.executable, str(FAKE), str(tmp), host, mode))
        lines.append(f'{host} ansible_connection=local berth_command="{command}" '
                     f"berth_plan_path={tmp}/{host}/plans/unit.json")
    lines += ["[all:vars]", f"ansible_python_interpreter={sys.executable}"]
    path = tmp / "ansible-inventory"
    path.write_text("\n".join(lines) + "\n")
    return path


def deploy_run(tmp: Path, modes: dict[str, str], serial: int | None = None) -> deploy.Run:
    config = three_hosts(make_config_dir(tmp / "etc"))
    run = deploy.Run(config, ansible_inventory(tmp, modes))
    hosts = deploy.targeted_hosts(config, None, None)
    plans = deploy.plan_all(run, hosts)
    deploy.apply_all(run, plans, serial)
    return run


def calls(tmp: Path, host: str) -> list[str]:
    log = tmp / f"{host}.log"
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    return tmp_path


def test_every_host_observed_planned_shipped_and_applied_in_waves_and_batches(tmp: Path) -> None:
    run = deploy_run(tmp, {"control01": "ok", "compute01": "ok", "compute02": "ok"}, serial=1)
    for host in ("control01", "compute01", "compute02"):
        observe, apply = calls(tmp, host)
        assert observe.split()[:4] == ["observe", "--json", "--with-files", "--deployment"] and "unit" in observe
        assert apply == f"--json apply-plan {tmp}/{host}/plans/unit.json"
        assert run.reports[host].status == "deployed", run.reports[host]
        assert run.reports[host].results and run.reports[host].results["services"]["memcached"]["status"]
    assert [run.reports[h].wave for h in ("control01", "compute01", "compute02")] == [1, 2, 2]
    assert set(run.timings) == {"observe", "plan", "apply wave 1", "apply wave 2"}
    items = deploy.items(list(run.reports.values()))
    assert {i["host"] for i in items} == {"control01", "compute01", "compute02"}


def test_a_failed_and_an_unreachable_host_are_named_and_the_others_complete(tmp: Path) -> None:
    run = deploy_run(tmp, {"control01": "ok", "compute01": "fail", "compute02": "down"})
    assert run.reports["control01"].status == "deployed"
    failed, down = run.reports["compute01"], run.reports["compute02"]
    assert failed.status == "failed"
    assert failed.message == ("failed while applying its plan: deploy failed in memcached: memcached did not "
                              "become healthy")
    assert failed.details[-1].strip() == "last log line of memcached"
    assert failed.results and failed.results["services"]["memcached"]["status"] == "failed"
    assert down.status == "unreachable" and down.message.startswith("unreachable while observing it: ")
    assert "port 1" in down.message or "refused" in down.message.lower()
    assert calls(tmp, "compute02") == []


def test_hosts_waiting_for_a_failed_host_are_skipped_and_say_why(tmp: Path) -> None:
    run = deploy_run(tmp, {"control01": "fail", "compute01": "ok", "compute02": "ok"})
    assert run.reports["control01"].status == "failed"
    for host in ("compute01", "compute02"):
        assert run.reports[host].status == "skipped"
        assert run.reports[host].message == "not applied: it waits for control01, which failed"
        assert len(calls(tmp, host)) == 1  # observed, never applied


def test_a_host_ansible_says_nothing_about_fails_with_ansibles_output(tmp: Path) -> None:
    inventory = ansible_inventory(tmp, {"control01": "ok"})
    results = run_playbook("observe", inventory, ["nosuchhost"], {"berth_deployment": "unit",
                                                                   "berth_deployment_dir": str(tmp)})
    assert results["nosuchhost"].status == "failed"
