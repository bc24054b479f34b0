"""Deploy benchmark: infrastructure + Keystone from built images, the no-op re-deploy, and orchestration overhead.

    python bench/bench_deploy.py [--runs 5] [--keep]

Uses its own deployment (`berthbench`) and a temporary config dir; removes its containers and volumes at the end.
Overhead, per service task: its wall time minus the time inside its one-shot steps and its health waits (what
berth itself spends: planning, engine calls, config files), summed over services; and the wall time of the whole
deploy vs the sum of all task times (how much parallelism saved).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from berth.config.loader import load_config
from berth.engine.docker_engine import connect
from berth.lifecycle.deploy import converge_host, raise_for, snapshot
from tests.sandbox import remove_deployment, sdk_client, write_config

DEPLOYMENT = "berthbench"
SERVICES = ("mariadb", "rabbitmq", "memcached", "keystone")


def destroy() -> None:
    remove_deployment(sdk_client(), DEPLOYMENT)


def setup(root: Path) -> Path:
    return write_config(root, deployment=DEPLOYMENT, address="127.0.0.12", epmd_port=4382, services=SERVICES)


def deploy_once(config_dir: Path) -> tuple[float, float, float, int, float, float]:
    """(total s, s in steps, s waiting for health, containers changed, s of berth's own work, sum of task s)."""
    start = time.monotonic()
    config = load_config(config_dir)
    client = connect()
    snap = snapshot(config, client)
    changed = sum(1 for c in snap.plan.changes if c.action.changes)
    if not snap.plan.has_changes:
        return time.monotonic() - start, 0.0, 0.0, 0, 0.0, 0.0
    outcome = converge_host(snap, client)
    raise_for(outcome)
    service_of = {c.name: c.service for c in snap.desired.containers}
    waited: dict[str, float] = {}
    for kind, what, seconds in outcome.timings.records:
        service = what.split("/")[0] if kind == "step" else service_of.get(what, what)
        waited[service] = waited.get(service, 0.0) + seconds
    tasks = {k: o.elapsed for k, o in outcome.result.outcomes.items()}
    own = sum(max(0.0, t - waited.get(k, 0.0)) for k, t in tasks.items())
    return (time.monotonic() - start, outcome.timings.steps, outcome.timings.health, changed, own,
            sum(tasks.values()))


def run(runs: int, keep: bool) -> None:
    destroy()
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as tmp:
        config_dir = setup(Path(tmp))
        try:
            total, steps, health, changed, own, task_sum = deploy_once(config_dir)
            noops = [deploy_once(config_dir) for _ in range(runs)]
        finally:
            if not keep:
                destroy()
    if any(n[3] for n in noops):
        sys.exit("a re-deploy changed containers: not a no-op")
    print(f"deploy (infra + keystone, {changed} containers): {total:.1f} s   (target <= 45 s)")
    print(f"no-op re-deploy, median of {runs}: {statistics.median(n[0] for n in noops):.2f} s   (target <= 5 s)")
    print(f"  time inside one-shot steps: {steps:.1f} s; waiting for health: {health:.1f} s (summed over parallel "
          f"services)")
    print(f"  berth's own work inside the service tasks (engine calls, config, planning): {own:.1f} s of "
          f"{task_sum:.1f} s task time; parallel tasks fit {task_sum:.1f} s into {total:.1f} s of wall time")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="leave the deployment running")
    args = parser.parse_args()
    run(args.runs, args.keep)
