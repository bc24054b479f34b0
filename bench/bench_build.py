"""Benchmark of `berth build` on this machine; prints each figure the build issue names.

- cold build of the core set (`berth build --force core`: every core image really rebuilt, the rootfs reused);
- no-op build of the core set (everything cached): median of several runs of the real command;
- total unique size of the core set (each image counted only for what it adds to its parent).

Usage: python bench/bench_build.py [--skip-cold] [--runs 5] [--config-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

BERTH = [sys.executable, "-m", "berth"]


def berth(*args: str, config_dir: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BERTH, "--config-dir", config_dir, *args], capture_output=True, text=True, check=False)


def timed(*args: str, config_dir: str) -> float:
    start = time.monotonic()
    done = berth(*args, config_dir=config_dir)
    elapsed = time.monotonic() - start
    if done.returncode != 0:
        sys.exit(f"berth {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


def unique_size(config_dir: str) -> tuple[int, int]:
    """(bytes, image count): root image size plus what every image adds over its parent."""
    import docker

    listing = json.loads(berth("--json", "build", "--list", "core", config_dir=config_dir).stdout)
    client = docker.from_env()
    sizes = {item["image"]: client.api.inspect_image(item["ref"])["Size"] for item in listing}
    parents = {item["image"]: (item["parents"] or [None])[0] for item in listing}
    total = sum(size - (sizes[parents[name]] if parents[name] else 0) for name, size in sizes.items())
    return total, len(sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-cold", action="store_true", help="only the no-op time and the sizes")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--config-dir", default="/etc/berth")
    parser.add_argument("--logs-dir", default="/tmp/berth-bench-logs")
    opts = parser.parse_args()
    cfg = opts.config_dir
    if not opts.skip_cold:
        cold = timed("--quiet", "build", "--force", "--logs-dir", opts.logs_dir, "core", config_dir=cfg)
        print(f"cold build of core (--force, rootfs reused): {cold:.1f} s (target <= 360 s)")
    else:
        timed("--quiet", "build", "--logs-dir", opts.logs_dir, "core", config_dir=cfg)
    noop = [timed("--quiet", "build", "--logs-dir", opts.logs_dir, "core", config_dir=cfg) for _ in range(opts.runs)]
    print(f"no-op build of core: median {statistics.median(noop):.2f} s over {opts.runs} runs "
          f"(min {min(noop):.2f}, max {max(noop):.2f}; target <= 3 s)")
    size, count = unique_size(cfg)
    print(f"core set: {count} images, total unique size {size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
