"""`berth mariadb-recovery` over many hosts, with the hosts' answers faked: what it asks, whom it starts, in order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from berth.cli.main import main
from berth.config.loader import Config, load_config
from berth.lifecycle.galera import GaleraError, is_cluster
from berth.remote import galera
from berth.remote.ansible import HostResult
from berth.services.registry import enable_key, service_names

UUID = "4a8b2f6e-0000-11ef-8000-000000000001"
INVENTORY = "[control]\n" + "".join(f"db{n} ansible_host=198.51.100.1{n} api_address=198.51.100.1{n}\n"
                                    for n in (1, 2, 3)) + "[network]\n[compute]\n[storage]\n[monitoring]\n[deployment]\n"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    others = "".join(f"{enable_key(n)}: false\n" for n in service_names() if n != "mariadb")
    (tmp_path / "globals.yml").write_text(f"deployment_name: unit\nstate_dir: {tmp_path}/state\n{others}")
    (tmp_path / "cluster").write_text(INVENTORY)
    assert main(["--quiet", "--config-dir", str(tmp_path), "genpwd"]) == 0
    return load_config(tmp_path, inventory_path=tmp_path / "cluster")


class Hosts:
    """Answers per (host, action); records every call in order."""

    def __init__(self, answers: dict[tuple[str, str], Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str]] = []

    def __call__(self, inventory: Path, args: dict[str, str], extravars: Any = None) -> dict[str, HostResult]:
        out = {}
        for host, line in args.items():
            action = line.split()[1]
            self.calls.append((host, action))
            answer = self.answers.get((host, action), {})
            if answer == "unreachable":
                out[host] = HostResult(host, "unreachable", message="ssh: connect to host timed out")
            else:
                out[host] = HostResult(host, "ok", stdout=json.dumps(answer))
        return out


def stopped(volume: bool = True) -> dict[str, Any]:
    return {"container": "running", "volume": volume}


def at(seqno: int, safe: int = 0) -> dict[str, Any]:
    return {"grastate": True, "initialised": True, "uuid": UUID, "seqno": seqno, "safe_to_bootstrap": safe,
            "recovered": seqno > 0 and not safe}


def test_the_three_hosts_are_one_cluster(config: Config) -> None:
    assert is_cluster(config)


def test_the_most_advanced_node_starts_first_then_the_others_join(config: Config,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    hosts = Hosts({("db1", "status"): stopped(), ("db2", "status"): stopped(), ("db3", "status"): stopped(),
                   ("db1", "position"): at(30), ("db2", "position"): at(41), ("db3", "position"): at(41)})
    monkeypatch.setattr(galera, "run_on", hosts)
    said: list[str] = []
    choice = galera.recover(config, Path("inv"), said.append)
    assert choice is not None and choice.host == "db2" and choice.seqno == 41
    assert hosts.calls == [("db1", "status"), ("db2", "status"), ("db3", "status"), ("db1", "position"),
                           ("db2", "position"), ("db3", "position"), ("db2", "bootstrap"), ("db1", "join"),
                           ("db3", "join")]
    assert "starting the cluster from db2: highest seqno 41, as db3: first in the inventory" in said


def test_a_primary_node_means_nothing_is_touched(config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    primary = {"container": "running", "volume": True, "state": "Synced", "cluster_status": "Primary",
               "cluster_size": 2}
    hosts = Hosts({("db1", "status"): primary, ("db2", "status"): stopped(), ("db3", "status"): "unreachable"})
    monkeypatch.setattr(galera, "run_on", hosts)
    assert galera.recover(config, Path("inv"), lambda _line: None) is None
    assert [a for _, a in hosts.calls] == ["status"] * 3


def test_a_fresh_deployment_is_left_to_the_first_deploy(config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    hosts = Hosts({(h, "status"): {"container": None, "volume": False} for h in ("db1", "db2", "db3")})
    monkeypatch.setattr(galera, "run_on", hosts)
    assert galera.recover(config, Path("inv"), lambda _line: None) is None
    assert len(hosts.calls) == 3


def test_a_host_that_does_not_answer_stops_the_recovery_before_anything_changes(
        config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    hosts = Hosts({("db1", "status"): stopped(), ("db2", "status"): stopped(), ("db3", "status"): "unreachable"})
    monkeypatch.setattr(galera, "run_on", hosts)
    with pytest.raises(GaleraError) as err:
        galera.recover(config, Path("inv"), lambda _line: None)
    assert "without db3" in err.value.message
    assert [a for _, a in hosts.calls] == ["status"] * 3  # nothing stopped, nothing marked


def test_allowed_missing_host_is_recovered_without(config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    hosts = Hosts({("db1", "status"): stopped(), ("db2", "status"): stopped(), ("db3", "status"): "unreachable",
                   ("db1", "position"): at(5), ("db2", "position"): at(3)})
    monkeypatch.setattr(galera, "run_on", hosts)
    choice = galera.recover(config, Path("inv"), lambda _line: None, allow_missing=["db3"])
    assert choice is not None and choice.host == "db1"
    assert ("db3", "join") not in hosts.calls and ("db2", "join") in hosts.calls


def test_the_host_command_carries_no_secret(config: Config) -> None:
    line = galera.node_args(config, "position")
    assert line.startswith("galera-node position --deployment unit --deployment-dir ")
    assert "--image berth/mariadb:epoxy" in line
    assert not any(str(v) in line for v in config.passwords.values() if v and isinstance(v, str))
