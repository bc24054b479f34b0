"""The README's main command from nothing: a fresh clone, a new venv, no images, no test-guest cache.

Destructive to this machine's caches on purpose: it removes every image berth built (label `berth.image.name`,
the debootstrapped rootfs included) and the test-guest cache, so the run pays for everything a fresh Debian 12
machine would, except installing Docker and pip's download cache. Runs its own deployment (`berthcold` on
127.0.0.53, own Erlang ports, provider interface and VNI range) and removes it at the end; the rebuilt images
stay. Refuses to run while any berth container exists.

    python bench/bench_cold_aio.py --yes-remove-images [--runs 1]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from berth.engine import labels
from berth.guest.build import DEFAULT_CACHE
from berth.images.rootfs import ROOTFS_REPO
from tests.e2e.cloud_env import REPO, CloudEnv
from tests.sandbox import sdk_client


def remove_images() -> int:
    """Every image berth built, children before parents (`docker rmi` refuses a parent with children)."""
    client = sdk_client()
    if client.containers.list(all=True, filters={"label": labels.MANAGED}):
        raise SystemExit("berth containers exist on this engine: destroy those deployments first")
    found = client.images.list(filters={"label": "berth.image.name"}) + client.images.list(name=ROOTFS_REPO)
    ids = list(dict.fromkeys(image.id for image in found))
    subprocess.run(["docker", "rmi", "-f", *ids], capture_output=True, check=False)
    subprocess.run(["docker", "image", "prune", "-f"], capture_output=True, check=False)
    shutil.rmtree(DEFAULT_CACHE, ignore_errors=True)
    return len(ids)


def cold_run(work: Path, index: int) -> tuple[float, float | None]:
    """One fresh clone's scripts/aio.sh; returns (seconds, seconds of its image build)."""
    clone = work / f"clone-{index}"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    env = CloudEnv("berthcold", "127.0.0.53", "berthcd-ext0", "8201:8300", 4453, 25753, work / f"config-{index}")
    env.write_globals()
    environ = {k: v for k, v in env.env().items() if k != "BERTH_VENV"}  # the clone makes its own venv
    environ["PATH"] = environ["PATH"].split(":", 1)[1]
    try:
        start = time.monotonic()
        proc = subprocess.run(["bash", "scripts/aio.sh"], cwd=clone, env=environ, capture_output=True, text=True,
                              check=False)
        seconds = time.monotonic() - start
        out = proc.stdout + proc.stderr
        (work / f"aio-{index}.log").write_text(out)
        if proc.returncode != 0:
            raise SystemExit(f"scripts/aio.sh failed (exit {proc.returncode}); see {work / f'aio-{index}.log'}")
        build = re.search(r"berth build: ([0-9.]+)s", out)
        return seconds, float(build.group(1)) if build else None
    finally:
        env.teardown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--yes-remove-images", action="store_true", required=True,
                        help="agree that every berth image and the test-guest cache are removed first")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="berth-bench-cold-"))
    totals, builds = [], []
    for index in range(args.runs):
        removed = remove_images()
        print(f"run {index + 1}/{args.runs}: removed {removed} image(s) and the guest cache", flush=True)
        seconds, build = cold_run(work, index)
        totals.append(seconds)
        if build is not None:
            builds.append(build)
        print(f"  scripts/aio.sh from nothing: {seconds:.1f}s (image build {build}s)", flush=True)
    print()
    print(f"{'scripts/aio.sh from nothing to a booted test VM':55} {statistics.median(totals) / 60:.1f} min "
          f"(runs: {', '.join(f'{t:.0f}s' for t in totals)})")
    if builds:
        print(f"{'  of which the image build':55} {statistics.median(builds):.0f}s")


if __name__ == "__main__":
    main()
