"""Many-hosts figures on `berth lab` hosts (issue 12): the Ansible transport's overhead, and a 3-host cloud.

    python bench/bench_multihost.py transport [--hosts 1,3,5] [--runs 3]
    python bench/bench_multihost.py cloud [--runs 3]

transport: a lab of N hosts, every host in `control` running Memcached only (the smallest service), deployed
    once; then the median of `--runs` no-op `berth -i INV deploy` runs (observe every host through Ansible, plan
    here, nothing to apply) and of `berth -i INV status`. The difference between N hosts and 1 host is the
    per-host overhead of the transport (Ansible forks, SSH, `berth observe` on the host).
cloud: a 3-host lab (e2e1 control+network, two computes) from images already built: push every image to the lab
    registry, the first deploy (each host pulls what it runs), the no-op re-run, and from `lab up` to a cloud with
    a server ACTIVE on each compute. Each run starts from `lab down` (the registry's volume is kept between runs,
    so only the first run's push is a real one).

The lab hosts share this machine's kernel and CPUs (docs/lab.md): these are lab figures, measured on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from berth.cli.main import main
from berth.engine import connect
from berth.images import registry
from berth.remote.lab import load_lab
from berth.remote.labplan import Lab
from berth.services.registry import enable_key, service_names
from tests.sandbox import BERTH

NAME = "bmh"
CIDR = "203.0.113.0/26"  # not .80: this machine kind resolves its apt mirror (deb.debian.org) there
PORT = 4040
REGISTRY = f"berth_registry_{NAME}"


def quiet(argv: list[str]) -> None:
    code = main(["--quiet", *argv])
    if code != 0:
        raise SystemExit(f"berth {' '.join(argv)} failed (exit {code})")


def timed(config: Path, inventory: Path, *args: str) -> tuple[float, dict[str, Any]]:
    started = time.monotonic()
    proc = subprocess.run([*BERTH, "--config-dir", str(config), "-i", str(inventory), "--json", *args],
                          capture_output=True, text=True, timeout=1800, check=False)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"berth {' '.join(args)} failed (exit {proc.returncode}): {proc.stderr[-3000:]}")
    return elapsed, json.loads(proc.stdout) if proc.stdout.strip() else {}


def lab_up(hosts: int) -> Lab:
    quiet(["lab", "down", "--name", NAME])
    quiet(["lab", "up", "--hosts", str(hosts), "--name", NAME, "--cidr", CIDR, "--registry-port", str(PORT)])
    return load_lab(NAME)


def config_dir(root: Path, lab: Lab, services: tuple[str, ...] | None) -> Path:
    config = root / "etc"
    config.mkdir(exist_ok=True)
    # zed: epoxy's OVS userspace datapath does not carry VXLAN between lab hosts yet (docs/upgrade.md, "Limits")
    values: dict[str, Any] = {"deployment_name": NAME, "docker_registry": lab.registry, "registry_port": PORT,
                              "openstack_release": "zed"}
    if services is not None:
        values.update({enable_key(n): n in services for n in service_names()})
    (config / "globals.yml").write_text(yaml.safe_dump(values, sort_keys=False))
    quiet(["--config-dir", str(config), "genpwd"])
    return config


def start_registry(lab: Lab, config: Path, images: list[str]) -> float:
    """Tag the built images for the lab registry, start it on the lab's .1, push; the push's seconds."""
    quiet(["--config-dir", str(config), "build", *images, "registry"])
    registry.start(connect(), f"{lab.registry}/berth/registry:zed", PORT, REGISTRY, volume=REGISTRY,
                   extra_address=str(lab.machine_address))
    registry.wait_ready(PORT)
    started = time.monotonic()
    quiet(["--config-dir", str(config), "push", *[i for i in images if i != "all"]])
    return time.monotonic() - started


def all_in_control(lab: Lab, path: Path) -> Path:
    """The lab's hosts, every one in `control` (and nothing else): Memcached on each."""
    lines = [f"{h.name} ansible_host={h.address} api_address={h.address} network_interface=eth0" for h in lab.hosts]
    text = lab.inventory.read_text()
    head, _, tail = text.partition("[all:vars]")
    groups = "\n".join(f"[{g}]" for g in ("network", "compute", "storage", "monitoring"))
    deployment = head[head.index("[deployment]"):]
    path.write_text("[control]\n" + "\n".join(lines) + f"\n\n{groups}\n\n{deployment}[all:vars]{tail}")
    return path


def transport(host_counts: list[int], runs: int) -> None:
    rows = []
    for count in host_counts:
        with tempfile.TemporaryDirectory(prefix="berth-bench-mh-") as tmp:
            lab = lab_up(count)
            config = config_dir(Path(tmp), lab, ("memcached",))
            start_registry(lab, config, ["memcached"])
            inventory = all_in_control(lab, Path(tmp) / "inventory")
            first, _ = timed(config, inventory, "deploy", "--yes")
            noop = [timed(config, inventory, "deploy", "--yes") for _ in range(runs)]
            status = [timed(config, inventory, "status")[0] for _ in range(runs)]
            observe = [d["timings"]["observe"] for _, d in noop]
            rows.append((count, first, statistics.median(t for t, _ in noop), statistics.median(observe),
                         statistics.median(status)))
    quiet(["lab", "down", "--name", NAME])
    print(f"{'hosts':>5} {'first deploy':>13} {'no-op deploy':>13} {'of it observe':>14} {'status':>8}")
    for count, first, noop_s, observe_s, status_s in rows:
        print(f"{count:>5} {first:>12.1f}s {noop_s:>12.1f}s {observe_s:>13.1f}s {status_s:>7.1f}s")
    base = rows[0]
    for count, _f, noop_s, _o, _s in rows[1:]:
        print(f"per extra host ({base[0]} -> {count}): {(noop_s - base[2]) / (count - base[0]):.2f}s of no-op deploy")


def cloud(runs: int) -> None:
    results = []
    for run in range(runs):
        with tempfile.TemporaryDirectory(prefix="berth-bench-mh-") as tmp:
            started = time.monotonic()
            lab = lab_up(3)
            config = config_dir(Path(tmp), lab, None)
            push = start_registry(lab, config, ["all"])
            inventory = Path(tmp) / "inventory"
            inventory.write_text(lab.inventory.read_text())
            deploy, data = timed(config, inventory, "deploy", "--yes")
            noop, _ = timed(config, inventory, "deploy", "--yes")
            quiet(["--config-dir", str(config), "-i", str(inventory), "post-deploy"])
            quiet(["--config-dir", str(config), "-i", str(inventory), "init-runonce"])
            boot_both(config)
            total = time.monotonic() - started
            results.append((push, deploy, noop, total))
            print(f"run {run + 1}: push {push:.1f}s, deploy {deploy:.1f}s ({data.get('timings')}), no-op {noop:.1f}s, "
                  f"lab up to servers on both computes {total:.1f}s")
    quiet(["lab", "down", "--name", NAME])
    for i, what in enumerate(("push", "3-host deploy", "no-op re-run", "lab up -> servers on both computes")):
        print(f"{what}: median {statistics.median(r[i] for r in results):.1f}s over {runs} run(s)")


def boot_both(config: Path) -> None:
    """A server on each compute, ACTIVE (`openstack server create --wait`)."""
    env = {"OS_CLOUD": "berth-admin", "OS_CLIENT_CONFIG_FILE": str(config / "clouds.yaml")}
    client = str(Path(BERTH[0]).parent / "openstack")
    procs = [subprocess.Popen([client, "server", "create", "--image", "berth-test-guest", "--flavor", "m1.tiny",
                               "--network", "demo-net", "--availability-zone", f"nova:{NAME}{i}", "--wait",
                               f"bench-{i}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for i in (2, 3)]
    for proc in procs:
        _out, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"server create failed: {err[-2000:]}")


def cleanup() -> None:
    """The lab, the registry container and volume, and the machine's image tags in the lab registry's name."""
    quiet(["lab", "down", "--name", NAME])
    engine = connect()
    registry.stop(engine, PORT, REGISTRY)
    if engine.volume(REGISTRY) is not None:
        engine.remove_volume(REGISTRY, force=True)
    prefix = f"{CIDR.split('/')[0].rsplit('.', 1)[0]}.1:{PORT}/"
    for image in engine.images():
        for tag in image.tags:
            if tag.startswith(prefix):
                engine.remove_image(tag)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("transport", "cloud"))
    parser.add_argument("--hosts", default="1,3,5", help="transport: host counts, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep-registry", action="store_true", help="leave the registry container running")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse()
    try:
        if args.what == "transport":
            transport([int(n) for n in args.hosts.split(",")], args.runs)
        else:
            cloud(args.runs)
    finally:
        if not args.keep_registry:
            cleanup()
