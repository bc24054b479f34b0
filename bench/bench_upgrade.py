"""Upgrade benchmark: Keystone upgraded while clients request tokens, rollback time, data kept.

    python bench/bench_upgrade.py [--runs 3] [--threads 2] [--keep]

Own deployment (`berthup` on 127.0.0.41, Erlang ports 4391/25691, image namespace `berthup`) and a temporary config
dir; infra + keystone + glance deployed from the built images (built/tagged first when missing). Each run upgrades
keystone to a new tag of the same recipe (`berth upgrade --build --tag`) while `--threads` clients POST
/v3/auth/tokens in a loop, then rolls back. Prints medians: failed requests, the longest gap without a successful
token, the upgrade's time, the rollback's time; and whether users, projects and images created before are still
there after the upgrade and after the rollback. Removes its containers and volumes at the end.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Self

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from berth.cli.main import main
from tests.sandbox import remove_deployment, sdk_client, write_config

DEPLOYMENT = "berthup"
ADDRESS = "127.0.0.41"
SERVICES = ("mariadb", "rabbitmq", "memcached", "keystone", "glance")


def destroy() -> None:
    remove_deployment(sdk_client(), DEPLOYMENT)


def setup(root: Path) -> Path:
    config = write_config(root, deployment=DEPLOYMENT, address=ADDRESS, epmd_port=4391, services=SERVICES,
                          extra={"image_namespace": "berthup"})
    berth(config, "--quiet", "build", *SERVICES)
    return config


def berth(config: Path, *args: str) -> None:
    code = main(["--config-dir", str(config), *args])
    if code != 0:
        sys.exit(f"berth {' '.join(args)} failed with exit status {code}")


def password(config: Path) -> str:
    return str(yaml.safe_load((config / "passwords.yml").read_text())["keystone_admin_password"])


class TokenLoop:
    """Clients requesting tokens until stopped; records the time of every success and counts failures."""

    def __init__(self, secret: str, threads: int) -> None:
        self.body: dict[str, Any] = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": secret}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
        self.ok: list[float] = []
        self.failed = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.loop, daemon=True) for _ in range(threads)]

    def loop(self) -> None:
        while not self.stop.is_set():
            try:
                answer = requests.post(f"http://{ADDRESS}:5000/v3/auth/tokens", json=self.body, timeout=10)
                good = answer.status_code == 201
            except requests.RequestException:
                good = False
            with self.lock:
                if good:
                    self.ok.append(time.monotonic())
                else:
                    self.failed += 1
            if not good:
                time.sleep(0.05)

    def __enter__(self) -> Self:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)

    def longest_gap(self, start: float, end: float) -> float:
        points = sorted([start, *(t for t in self.ok if start <= t <= end), end])
        return max(b - a for a, b in itertools.pairwise(points))


def make_data(config: Path) -> dict[str, str]:
    conn = cloud(config)
    project = conn.identity.create_project(name=f"bench-{time.time_ns()}", domain_id="default")
    user = conn.identity.create_user(name=f"bench-{time.time_ns()}", domain_id="default", password="x" * 12)
    image = conn.image.create_image(name=f"bench-{time.time_ns()}", data=b"berth" * 1000, disk_format="raw",
                                    container_format="bare")
    return {"project": project.id, "user": user.id, "image": image.id}


def data_present(config: Path, data: dict[str, str]) -> bool:
    conn = cloud(config)
    return (conn.identity.find_project(data["project"]) is not None
            and conn.identity.find_user(data["user"]) is not None
            and conn.image.find_image(data["image"]) is not None)


def cloud(config: Path):  # type: ignore[no-untyped-def]
    import openstack

    return openstack.connect(auth_url=f"http://{ADDRESS}:5000/v3", username="admin", project_name="admin",
                             password=password(config), user_domain_name="Default",
                             project_domain_name="Default", region_name="RegionOne", load_yaml_config=False,
                             load_envvars=False)


def one_run(config: Path, tag: str, threads: int) -> dict[str, float]:
    data = make_data(config)
    with TokenLoop(password(config), threads) as loop:
        time.sleep(1.0)
        start = time.monotonic()
        berth(config, "--quiet", "upgrade", "keystone", "--build", "--tag", tag, "--yes")
        upgraded = time.monotonic()
        time.sleep(1.0)
        end = time.monotonic()
        gap, failed = loop.longest_gap(start, end), loop.failed
    upgrade = upgraded - start
    after_upgrade = data_present(config, data)
    start = time.monotonic()
    berth(config, "--quiet", "rollback", "keystone", "--yes")
    rollback = time.monotonic() - start
    after_rollback = data_present(config, data)
    return {"gap": gap, "failed": failed, "upgrade": upgrade, "rollback": rollback,
            "kept": float(after_upgrade and after_rollback)}


def run(runs: int, threads: int, keep: bool) -> None:
    destroy()
    with tempfile.TemporaryDirectory(prefix="berth-bench-up-") as tmp:
        config = setup(Path(tmp))
        try:
            berth(config, "--quiet", "deploy", "--yes")
            results = [one_run(config, f"zed-bench{i}", threads) for i in range(runs)]
        finally:
            if not keep:
                destroy()
    med = {k: statistics.median(r[k] for r in results) for k in results[0]}
    print(f"keystone upgrade under load ({threads} token clients, median of {runs}):")
    print(f"  failed token requests: {med['failed']:.0f} (per run: {[int(r['failed']) for r in results]})")
    print(f"  longest gap without a token: {med['gap']:.2f} s   (target <= 2 s)")
    print(f"  upgrade time (images present, backup, expand/migrate/contract, swap): {med['upgrade']:.1f} s")
    print(f"rollback, schema unchanged (berth rollback wall time): {med['rollback']:.1f} s   (target <= 10 s)")
    kept = all(r["kept"] for r in results)
    print(f"users, projects, images created before: {'kept' if kept else 'LOST'} after upgrade and rollback")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    run(args.runs, args.threads, args.keep)
