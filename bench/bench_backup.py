"""Backup and restore benchmark: `berth backup` and `berth restore` of a deployment with rows in it.

    python bench/bench_backup.py [--runs 5] [--projects 200]

Deploys MariaDB, Memcached, Keystone, Glance and Placement (own deployment `bbakbench` on 127.0.0.68, temporary
config dir), makes `--projects` projects with a user each through Keystone's API, then times `--runs` backups and
restores of the whole set of databases and prints the medians and the backup's size. Everything is removed at
the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

from berth.cli.main import main
from tests.sandbox import build_images, remove_deployment, sdk_client, write_config

DEPLOYMENT = "bbakbench"
ADDRESS = "127.0.0.68"
SERVICES = ("mariadb", "memcached", "keystone", "glance", "placement")


def berth(config_dir: Path, *args: str) -> int:
    return main(["--quiet", "--config-dir", str(config_dir), *args])


def fill(config_dir: Path, projects: int) -> None:
    import openstack

    password = yaml.safe_load((config_dir / "passwords.yml").read_text())["keystone_admin_password"]
    conn = openstack.connect(auth_url=f"http://{ADDRESS}:5000/v3", username="admin", project_name="admin",
                             password=password, user_domain_name="Default", project_domain_name="Default",
                             load_yaml_config=False, load_envvars=False)
    for n in range(projects):
        project = conn.identity.create_project(name=f"bench-{n}", domain_id="default")
        conn.identity.create_user(name=f"bench-user-{n}", password=f"bench-password-{n}", domain_id="default",
                                  default_project_id=project.id)


def timed(config_dir: Path, *args: str) -> float:
    start = time.monotonic()
    assert berth(config_dir, *args) == 0, args
    return time.monotonic() - start


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--projects", type=int, default=200)
    args = parser.parse_args()
    client = sdk_client()
    remove_deployment(client, DEPLOYMENT)
    with tempfile.TemporaryDirectory(prefix="bench-backup-") as tmp:
        root = Path(tmp)
        config_dir = write_config(root, deployment=DEPLOYMENT, address=ADDRESS, epmd_port=4395, services=SERVICES,
                                  extra={"backup_retention": 2})
        try:
            build_images(config_dir, SERVICES)
            assert berth(config_dir, "deploy", "--yes") == 0
            fill(config_dir, args.projects)
            backups, restores, size = [], [], 0
            for _ in range(args.runs):
                backups.append(timed(config_dir, "backup"))
                items = sorted((root / "state" / DEPLOYMENT / "backups").glob("cloud-*"))
                size = sum(p.stat().st_size for p in items[-1].rglob("*") if p.is_file())
                restores.append(timed(config_dir, "restore", items[-1].name, "--yes"))
                time.sleep(1.1)  # backup names are per second
            print(json.dumps({"projects": args.projects, "runs": args.runs, "backup_bytes": size,
                              "backup_s": [round(x, 2) for x in backups],
                              "restore_s": [round(x, 2) for x in restores]}))
            print(f"berth backup ({', '.join(SERVICES[2:])} databases, {args.projects} projects and users, "
                  f"{size / 1024:.0f} KiB): median {statistics.median(backups):.2f}s; berth restore: median "
                  f"{statistics.median(restores):.2f}s (runs: {args.runs})")
        finally:
            remove_deployment(client, DEPLOYMENT)


if __name__ == "__main__":
    main_bench()
