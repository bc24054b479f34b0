"""Release benchmark: the Epoxy image build without any cache, and Zed -> Epoxy -> Zed on a populated cloud.

    python bench/bench_release.py build [--runs 1]      # core images of Epoxy, no layer cache, own namespace
    python bench/bench_release.py upgrade [--runs 1]    # deploy Zed, upgrade --release epoxy, rollback --release zed

`build`: `berth build core --force` in the image namespace `benchrel` (the engine's layer cache off, every package
downloaded again; the debootstrapped rootfs is reused, made once per machine). Prints the seconds per run and the
median. `upgrade`: its own deployment (`berthbr` on 127.0.0.58, Erlang ports 4458/25758, provider interface
berthbr-ext0, VNIs 8701:8800). Each run deploys Zed from built images (timed), runs `init-runonce
--boot-test-server`, then `berth upgrade --release epoxy` while one prober per API requests it every 0.25 s (the
longest time each answered nothing but errors is its API gap), then `berth rollback --release zed
--restore-database` (timed), then destroys it and deploys Epoxy from built images (timed). Prints medians.
Removes everything it made at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Self

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.cloud_env import CloudEnv

ADDRESS = "127.0.0.58"
PROBES = {  # service -> path on ADDRESS that answers while it serves (status < 500)
    "keystone": ":5000/v3", "glance": ":9292/", "placement": ":8778/", "nova": ":8774/", "neutron": ":9696/",
    "heat": ":8004/", "horizon": ":80/horizon/auth/login/",
}


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}" if values else "-"


class Prober:
    """One thread per API: the longest stretch in which it answered nothing usable."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.gaps: dict[str, float] = dict.fromkeys(PROBES, 0.0)
        self.threads = [threading.Thread(target=self._probe, args=(s,), daemon=True) for s in PROBES]

    def _probe(self, service: str) -> None:
        url = f"http://{ADDRESS}{PROBES[service]}"
        last_ok = time.monotonic()
        while not self.stop.is_set():
            try:
                ok = requests.get(url, timeout=2).status_code < 500
            except requests.RequestException:
                ok = False
            now = time.monotonic()
            if ok:
                last_ok = now
            self.gaps[service] = max(self.gaps[service], now - last_ok)
            time.sleep(0.25)

    def __enter__(self) -> Self:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def timed(env: CloudEnv, *args: str) -> float:
    start = time.monotonic()
    env.berth(*args, timeout=3600)
    return time.monotonic() - start


def build(runs: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="berth-bench-release-"))
    (root / "globals.yml").write_text("openstack_release: epoxy\nimage_namespace: benchrel\n")
    env = CloudEnv("benchrel", ADDRESS, "benchrel-ext0", "8701:8800", 4458, 25758, root)
    seconds = [timed(env, "--quiet", "build", "core", "--force") for _ in range(runs)]
    print(f"cold Epoxy core build (no layer cache): {', '.join(f'{s:.0f}' for s in seconds)} s; "
          f"median {median(seconds)} s")


def upgrade(runs: int) -> None:
    results: dict[str, list[float]] = {}
    for _ in range(runs):
        root = Path(tempfile.mkdtemp(prefix="berth-bench-release-"))
        env = CloudEnv("berthbr", ADDRESS, "berthbr-ext0", "8701:8800", 4458, 25758, root / "config")
        env.remove_containers()
        try:
            _one_run(env, results)
        finally:
            env.teardown()
    for name, values in results.items():
        print(f"{name}: median {median(values)} s ({', '.join(f'{v:.1f}' for v in values)})")


def _one_run(env: CloudEnv, results: dict[str, list[float]]) -> None:
    env.write_globals({"openstack_release": "zed"})
    env.berth("genpwd")
    env.berth("build")
    results.setdefault("deploy Zed from built images", []).append(timed(env, "deploy", "--yes"))
    env.berth("post-deploy")
    env.berth("init-runonce", "--boot-test-server", timeout=900)
    with Prober() as probe:
        results.setdefault("upgrade --release epoxy", []).append(timed(env, "upgrade", "--release", "epoxy",
                                                                        "--yes"))
    for service, gap in probe.gaps.items():
        results.setdefault(f"longest API gap during the upgrade: {service}", []).append(gap)
    results.setdefault("rollback --release zed --restore-database", []).append(
        timed(env, "rollback", "--release", "zed", "--restore-database", "--yes"))
    env.delete_cloud_resources()
    env.berth("destroy", "--yes-i-really-really-mean-it")
    env.write_globals({"openstack_release": "epoxy"})
    env.berth("build")
    results.setdefault("deploy Epoxy from built images", []).append(timed(env, "deploy", "--yes"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["build", "upgrade"])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    (build if args.what == "build" else upgrade)(args.runs)


if __name__ == "__main__":
    main()
