"""`berth backup` and `berth restore` on the real engine: a project and a user made through Keystone's API, a
backup, the deployment destroyed with its data and deployed afresh with the same configuration (the rows are gone),
the restore: the project and the user are back and the user gets a token with their password. Backups are listed
with sizes, mode 0600, pruned by `backup_retention`, and a changed backup file is refused.

Own deployment (`bbak`) on its own loopback address (127.0.0.67), config/state/log under a temporary directory;
leftovers of an earlier run are removed first and everything at the end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from berth.cli.main import main
from tests.sandbox import deployed

pytestmark = pytest.mark.integration

DEPLOYMENT = "bbak"
ADDRESS = "127.0.0.67"
SERVICES = ("mariadb", "memcached", "keystone")
PROJECT, USER, USER_PASSWORD = "restore-me", "restore-user", "a-test-password-of-this-module"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("backup")
    with deployed(root, deployment=DEPLOYMENT, address=ADDRESS, epmd_port=4394, services=SERVICES,
                  extra={"backup_retention": 2}) as config_dir:
        yield {"config": config_dir, "root": root}


def berth(config_dir: Path, *args: str) -> int:
    return main(["--config-dir", str(config_dir), *args])


def connect(env: dict[str, Any], user: str = "admin", password: str | None = None, project: str = "admin") -> Any:
    import openstack

    if password is None:
        password = yaml.safe_load((env["config"] / "passwords.yml").read_text())["keystone_admin_password"]
    return openstack.connect(auth_url=f"http://{ADDRESS}:5000/v3", username=user, project_name=project,
                             password=password, user_domain_name="Default", project_domain_name="Default",
                             load_yaml_config=False, load_envvars=False)


def backups(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert berth(env["config"], "--json", "backup", "--list") == 0
    return list(json.loads(capsys.readouterr().out)["backups"])


def test_a_backup_restores_onto_a_fresh_deployment(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    admin = connect(env)
    project = admin.identity.create_project(name=PROJECT, domain_id="default")
    user = admin.identity.create_user(name=USER, password=USER_PASSWORD, domain_id="default",
                                      default_project_id=project.id)
    member = admin.identity.find_role("member", ignore_missing=False)
    admin.identity.assign_project_role_to_user(project, user, member)
    assert connect(env, USER, USER_PASSWORD, PROJECT).auth_token

    started = time.monotonic()
    assert berth(env["config"], "backup") == 0
    took = time.monotonic() - started
    [item] = backups(env, capsys)
    print(f"berth backup: {took:.1f}s, {item['size']} bytes, databases {item['databases']}")
    assert item["databases"] == ["keystone"]
    folder = Path(item["path"])
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in folder.rglob("*") if p.is_file())
    assert folder.stat().st_mode & 0o777 == 0o700

    assert berth(env["config"], "destroy", "--yes-i-really-really-mean-it") == 0  # volumes too: the database
    assert folder.is_dir(), "destroy keeps the backups"
    assert berth(env["config"], "deploy", "--yes") == 0
    assert connect(env).identity.find_project(PROJECT) is None  # a fresh deployment: the rows are gone

    started = time.monotonic()
    assert berth(env["config"], "restore", item["name"], "--yes") == 0
    print(f"berth restore: {time.monotonic() - started:.1f}s")
    assert connect(env).identity.find_project(PROJECT) is not None
    assert connect(env, USER, USER_PASSWORD, PROJECT).auth_token  # the user's password hash came back too


def test_backups_are_pruned_by_retention_and_a_changed_one_is_refused(
        env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(2):
        time.sleep(1.1)  # backup names are per second
        assert berth(env["config"], "backup") == 0
    items = backups(env, capsys)
    assert len(items) == 2, "backup_retention: 2 keeps the newest two"
    dump = Path(items[-1]["path"]) / "db" / "keystone.sql.gz"
    dump.write_bytes(dump.read_bytes() + b"\0")
    capsys.readouterr()
    assert berth(env["config"], "restore", items[-1]["name"], "--yes") == 3
    assert "changed since the backup" in capsys.readouterr().err
    assert berth(env["config"], "restore", "cloud-nosuch", "--yes") == 3
