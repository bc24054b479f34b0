"""MariaDB renders as one Galera cluster on 2+ hosts, and exactly as before on one host."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth.cli.main import main
from berth.config.loader import load_config
from berth.lifecycle.render import render_desired
from berth.services.registry import enable_key, service_names
from berth.state.desired import DesiredContainer, DesiredStep

ADDRESSES = ("198.51.100.11", "198.51.100.12", "198.51.100.13")
INVENTORY = "[control]\n" + "".join(f"db{n} ansible_host={a} api_address={a}\n" for n, a in enumerate(ADDRESSES, 1))
INVENTORY += "[network]\n[compute]\n[storage]\n[monitoring]\n[deployment]\n"
SINGLE_COMMAND = '"command": [\n    "mariadbd",\n    "--defaults-file=/etc/mysql/berth.cnf"\n  ]'
SINGLE_HEALTH = ("cmd", "--", "mariadb-admin", "--defaults-file=/etc/mysql/berth.cnf", "--protocol=socket", "ping")


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    others = "".join(f"{enable_key(n)}: false\n" for n in service_names() if n != "mariadb")
    (tmp_path / "globals.yml").write_text(f"deployment_name: unit\nstate_dir: {tmp_path}/state\n{others}")
    (tmp_path / "cluster").write_text(INVENTORY)
    assert main(["--quiet", "--config-dir", str(tmp_path), "genpwd"]) == 0
    return tmp_path


def mariadb(config_dir: Path, host: str = "localhost", inventory: str | None = None
            ) -> tuple[DesiredContainer, DesiredStep]:
    config = load_config(config_dir, inventory_path=config_dir / inventory if inventory else None)
    desired = render_desired(config, {}, host, pins={})
    step = next(s for s in desired.steps if s.name == "initialise")
    assert step.container is not None
    return desired.container("mariadb"), step


def test_one_host_renders_no_galera_at_all(config_dir: Path) -> None:
    container, step = mariadb(config_dir)
    assert "wsrep" not in container.files["berth.cnf"] and "berth-galera" not in container.files["berth.cnf"]
    assert container.files["berth.cnf"].endswith("performance_schema = OFF\n")
    assert SINGLE_COMMAND in container.files["config.json"]
    assert container.health == SINGLE_HEALTH
    assert container.spec["healthcheck"]["test"] == ["CMD", "berth-health", *SINGLE_HEALTH]
    script = step.container.files["berth-init.sh"]  # type: ignore[union-attr]
    assert "Galera" not in script and "state transfer" not in script
    assert 'exit 0\nfi\n# a half-done earlier attempt' in script


@pytest.mark.parametrize("host,first", [("db1", True), ("db2", False), ("db3", False)])
def test_three_hosts_render_one_cluster(config_dir: Path, host: str, first: bool) -> None:
    container, step = mariadb(config_dir, host, "cluster")
    own = ADDRESSES[int(host[-1]) - 1]
    cnf = container.files["berth.cnf"]
    expected = [
        "wsrep_on = ON", "wsrep_provider = /usr/lib/galera/libgalera_smm.so", "wsrep_cluster_name = unit",
        "wsrep_cluster_address = gcomm://" + ",".join(f"{a}:4567" for a in ADDRESSES),
        f"wsrep_node_name = {host}", f"wsrep_node_address = {own}", f"wsrep_sst_receive_address = {own}:4444",
        "wsrep_sst_method = mariabackup", "binlog_format = ROW", "innodb_autoinc_lock_mode = 2",
        f"gmcast.listen_addr=tcp://{own}:4567; ist.recv_addr={own}:4568",
        "peers = " + ",".join(f"{a}:4567" for a in ADDRESSES if a != own),
        f"first_host = {'yes' if first else 'no'}",
    ]
    for line in expected:
        assert line in cnf, line
    assert cnf.index("wsrep_on") < cnf.index("[berth-galera]")  # wsrep_* in [mysqld], not in berth's group
    assert '"berth-galera",\n    "start",\n    "mariadbd"' in container.files["config.json"]
    assert container.health[:4] == ("cmd", "--", "berth-galera", "health")
    script = step.container.files["berth-init.sh"]  # type: ignore[union-attr]
    assert '[ -f "$DATADIR/grastate.dat" ] || [ -d "$DATADIR/mysql" ]' in script  # a node's data is never wiped
    joiner_exit = "by state transfer\"\nexit 0\n"
    assert (joiner_exit in script) is not first
    assert script.index("grastate.dat") < script.index('find "$DATADIR" -mindepth 1 -delete')


def test_the_galera_ports_are_declared_for_prechecks(config_dir: Path) -> None:
    from berth.state.model import load_service

    ports = {p.name: p.number({}) for p in load_service("mariadb").ports}
    assert ports == {"mysql": 3306, "galera": 4567, "ist": 4568, "sst": 4444}
