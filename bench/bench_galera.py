"""MariaDB Galera figures on three `berth lab` hosts: a killed node's rejoin, and a full-stop recovery.

    python bench/bench_galera.py [--runs 3]

Setup (once): lab `hgal` (3 hosts, all in control), the mariadb image pushed to the lab registry, a first
deploy, a table. Then per run:
  rejoin:    `lab kill` host 3, 20 rows committed through host 1, `lab up`: seconds from `lab up` until host 3 is
             Synced in a Primary component of 3 (its engine restarts the container, berth-galera joins by IST).
  full stop: `lab kill` every host (host 1 first, 20 rows committed after), `lab up`, `berth deploy --yes`: seconds
             of that deploy (it finds no node Primary, reads every node's position, starts the most advanced one,
             the others join) and until every node is Synced with every committed row.
Medians of `--runs`. The lab hosts share this machine's kernel and CPUs (docs/lab.md): lab figures, 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from berth.cli.main import main
from berth.engine import connect
from berth.images import registry
from berth.remote.lab import load_lab
from tests.integration.test_galera import (
    IMAGES,
    NAME,
    NAMESPACE,
    PORT,
    REGISTRY,
    SERVICES,
    lab_up,
    rows,
    sql,
    synced,
    write,
    write_config,
)
from tests.sandbox import BERTH, TAG, wait_for


def setup(root: Path) -> dict[str, Any]:
    main(["lab", "down", "--name", NAME])
    lab_up()
    lab = load_lab(NAME)
    config = write_config(root, lab)
    if main(["--quiet", "--config-dir", str(config), "build", *SERVICES, "registry"]) != 0:
        raise SystemExit("build failed")
    registry.start(connect(), f"{lab.registry}/{NAMESPACE}/registry:{TAG}", PORT, REGISTRY, volume=REGISTRY,
                   extra_address=str(lab.machine_address))
    registry.wait_ready(PORT)
    if main(["--quiet", "--config-dir", str(config), "push", *SERVICES]) != 0:
        raise SystemExit("push failed")
    env: dict[str, Any] = {"lab": lab, "config": config, "inventory": root / "inventory", "next": 1}
    deploy(env)
    sql(lab.hosts[0], "CREATE DATABASE hgal; CREATE TABLE hgal.t (n INT PRIMARY KEY)")
    env["rows"] = []
    return env


def teardown() -> None:
    engine = connect()
    lab = load_lab(NAME)
    main(["lab", "down", "--name", NAME])
    registry.stop(engine, PORT, REGISTRY)
    if engine.volume(REGISTRY) is not None:
        engine.remove_volume(REGISTRY, force=True)
    for image in IMAGES:
        ref = f"{lab.registry}/{NAMESPACE}/{image}:{TAG}"
        if engine.image(ref) is not None:
            engine.remove_image(ref)


def deploy(env: dict[str, Any]) -> float:
    started = time.monotonic()
    proc = subprocess.run([*BERTH, "--config-dir", str(env["config"]), "-i", str(env["inventory"]), "deploy",
                           "--yes"], capture_output=True, text=True, timeout=1800, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"deploy failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return time.monotonic() - started


def commit(env: dict[str, Any], host_index: int) -> None:
    first = env["next"]
    env["rows"] += write(env["lab"].hosts[host_index], first, first + 19)
    env["next"] = first + 20


def kill(*hosts: Any) -> None:
    for host in hosts:
        if main(["--quiet", "lab", "kill", "--name", NAME, host.name]) != 0:
            raise SystemExit(f"lab kill {host.name} failed")


def rejoin(env: dict[str, Any]) -> float:
    one, _, three = env["lab"].hosts
    kill(three)
    wait_for("the cluster noticing host 3 is gone", 60, lambda: synced(one, 2), 0.5)
    commit(env, 0)
    started = time.monotonic()
    lab_up()
    wait_for("host 3 rejoining", 600, lambda: synced(three, 3), 0.5)
    elapsed = time.monotonic() - started
    assert rows(three) == env["rows"], "host 3 misses rows"
    return elapsed


def full_stop(env: dict[str, Any]) -> tuple[float, float]:
    hosts = env["lab"].hosts
    kill(hosts[0])
    wait_for("the cluster noticing host 1 is gone", 60, lambda: synced(hosts[1], 2), 0.5)
    commit(env, 1)
    kill(hosts[1], hosts[2])
    lab_up()
    time.sleep(10)  # the engines restart the containers; every node waits for a peer
    started = time.monotonic()
    took = deploy(env)
    for host in hosts:
        wait_for(f"{host.name} synced", 300, lambda h=host: synced(h, 3), 0.5)  # type: ignore[misc]
    whole = time.monotonic() - started
    for host in hosts:
        assert rows(host) == env["rows"], f"{host.name} misses rows"
    return took, whole


def main_(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-galera-") as tmp:
        env = setup(Path(tmp))
        try:
            rejoins = [rejoin(env) for _ in range(args.runs)]
            stops = [full_stop(env) for _ in range(args.runs)]
        finally:
            teardown()
    print(f"killed node rejoin (lab up -> Synced): median {statistics.median(rejoins):.1f}s "
          f"(runs {', '.join(f'{x:.1f}' for x in rejoins)})")
    print(f"full-stop recovery, `berth deploy`: median {statistics.median(s[0] for s in stops):.1f}s "
          f"(runs {', '.join(f'{s[0]:.1f}' for s in stops)})")
    print(f"full-stop recovery, deploy start -> every node Synced: median {statistics.median(s[1] for s in stops):.1f}s "
          f"(runs {', '.join(f'{s[1]:.1f}' for s in stops)}); {len(env['rows'])} committed rows on every node")


if __name__ == "__main__":
    main_()
