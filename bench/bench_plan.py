"""Planning figures without any engine: the pure planner over a large simulated deployment, rendering, and JSON.

    python bench/bench_plan.py [--hosts 1000] [--containers 30] [--runs 5] [--render-hosts 50]

1. The pure planner (`make_plan`) over N simulated hosts x M containers each (every container with a spec and a
   few config files; a tenth of them drifted: a changed file, a changed definition, a stopped container), the
   per-host plans made one after another as the deployment host does. Target (issue 12): <= 2 s for 1,000 hosts
   with 30 containers each.
2. Rendering real host plans (`host_plans`: templates, overrides, exports) for a generated inventory of K hosts
   (one controller, K-1 computes), and the JSON round trip of every host plan (what is shipped to hosts).
Medians of the runs are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from berth.cli.main import main
from berth.config.loader import load_config
from berth.lifecycle.hostplans import host_plans
from berth.plan import hostplan
from berth.plan.planner import make_plan
from berth.state.actual import ActualContainer, ActualState
from berth.state.desired import DesiredContainer, DesiredState, ServiceUnit


def simulated_host(host: int, containers: int) -> tuple[DesiredState, ActualState]:
    """One host's desired and observed state; every tenth container drifted in one of three ways."""
    wanted, running, units = [], [], []
    for n in range(containers):
        service = f"svc{n % 10}"
        spec = {"image": f"reg/{service}:tag", "network_mode": "host", "environment": {"N": str(n)},
                "volumes": [f"/etc/x/{n}:/c:ro"], "cap_add": [], "restart": "unless-stopped"}
        files = {"a.conf": f"[DEFAULT]\nhost = h{host}\nindex = {n}\n" * 20, "config.json": "{}"}
        want = DesiredContainer(key=f"c{n}", service=service, name=f"c{n}", host=f"h{host}", image=spec["image"],
                                image_id=f"sha256:{n % 10}", spec=spec, files=files)
        wanted.append(want)
        drift = n % 10 == 3
        have_files = {**files, "a.conf": files["a.conf"] + "x = 1\n"} if drift and host % 3 == 0 else files
        have_spec = {**spec, "cap_add": ["NET_ADMIN"]} if drift and host % 3 == 1 else spec
        probe = DesiredContainer(**{**want.__dict__, "spec": have_spec, "files": have_files})
        state = "exited" if drift and host % 3 == 2 else "running"
        running.append(ActualContainer(id=f"id{host}-{n}", name=want.name, key=want.key, service=service,
                                       image_id=want.image_id or "", spec_hash=probe.spec_hash,
                                       config_hash=probe.config_hash, spec=have_spec, state=state,
                                       files=have_files))
    units = [ServiceUnit(f"svc{i}", f"h{host}") for i in range(10)]
    desired = DesiredState("bench", tuple(units), tuple(wanted), secrets=frozenset({"secretvalue1"}))
    return desired, ActualState("bench", tuple(running))


def bench_planner(hosts: int, containers: int, runs: int) -> None:
    states = [simulated_host(h, containers) for h in range(hosts)]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        plans = [make_plan(desired, actual) for desired, actual in states]
        times.append(time.perf_counter() - start)
    changes = sum(1 for p in plans for c in p.changes if c.action.changes)
    print(f"pure planner, {hosts} hosts x {containers} containers ({changes} changes): "
          f"median {statistics.median(times):.2f} s over {runs} runs (target <= 2 s)")


INVENTORY_HEAD = "[control]\nctl ansible_host=198.51.100.2 api_address=198.51.100.2\n[network:children]\ncontrol\n"


def inventory(hosts: int) -> str:
    computes = "".join(f"cmp{i} ansible_host=198.51.{100 + i // 250}.{10 + i % 250} "
                       f"api_address=198.51.{100 + i // 250}.{10 + i % 250}\n" for i in range(hosts - 1))
    return f"{INVENTORY_HEAD}[compute]\n{computes}[storage]\n[monitoring]\n[deployment]\nctl\n"


def bench_render(hosts: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "globals.yml").write_text(f"deployment_name: bench\nstate_dir: {root}/state\n")
        (root / "inventory").write_text(inventory(hosts))
        assert main(["--quiet", "--config-dir", str(root), "genpwd"]) == 0
        render, trip = [], []
        for _ in range(runs):
            start = time.perf_counter()
            plans = host_plans(load_config(root, inventory_path=root / "inventory"))
            render.append(time.perf_counter() - start)
            start = time.perf_counter()
            for plan in plans:
                assert hostplan.loads(plan.dumps()) == plan
            trip.append(time.perf_counter() - start)
        size = sum(len(p.dumps()) for p in plans) / len(plans)
        print(f"render + plan, {hosts}-host inventory: median {statistics.median(render):.2f} s "
              f"({statistics.median(render) / hosts * 1000:.0f} ms per host)")
        print(f"JSON round trip of {len(plans)} host plans: median {statistics.median(trip):.2f} s "
              f"(mean plan {size / 1024:.0f} KiB)")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--containers", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--render-hosts", type=int, default=50)
    args = parser.parse_args()
    bench_planner(args.hosts, args.containers, args.runs)
    bench_render(args.render_hosts, args.runs)


if __name__ == "__main__":
    run()
