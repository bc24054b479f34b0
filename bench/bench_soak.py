"""Soak benchmark: networks, ports and servers made and deleted in a loop against a running cloud (tests/soak.py).

    python bench/bench_soak.py [--config-dir /etc/berth] [--minutes 30] [--json]

Runs against the cloud of `--config-dir` (deployed, `berth post-deploy` run, `berth init-runonce` run: it uses the
test guest image and the m1.tiny flavor) for `--minutes`, then prints the cycles, failures, the median and slowest
cycle, what was left behind on the host (DHCP namespaces, tap/qbr/qvo/qvb devices), ports before and after,
whether every Neutron agent is alive, and the containers whose memory grew most. Exit status 1 when anything failed
or leaked.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

from berth.config.loader import load_config
from tests.soak import run_soak


def connect(config_dir: Path):  # type: ignore[no-untyped-def]
    import openstack

    entry = yaml.safe_load((config_dir / "clouds.yaml").read_text())["clouds"]["berth-admin"]
    return openstack.connect(load_yaml_config=False, load_envvars=False, auth=entry["auth"],
                             region_name=entry["region_name"], identity_api_version="3")


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-dir", type=Path, default=Path("/etc/berth"))
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    deployment = load_config(args.config_dir).globals.deployment_name
    quiet = args.json
    report = run_soak(connect(args.config_dir), deployment, seconds=args.minutes * 60,
                      progress=(lambda _: None) if quiet else print)
    if args.json:
        print(json.dumps(report.data(), indent=2))
    else:
        print(f"soak of {args.minutes:g} min against {deployment}:")
        for line in report.summary():
            print(f"  {line}")
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main_bench()
