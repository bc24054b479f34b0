"""Upgrade, rollback, reconfigure, stop, destroy on the real engine (deployment `berthup`, 127.0.0.41).

Own config/state/log directories, own image namespace (`berthup`, tagged from the content-hash cache or built),
leftovers of an earlier run destroyed first, everything removed at the end. Tests run in order and build on
each other (one deployment, like an operator's day).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from berth.cli.main import main
from berth.engine import labels
from tests.sandbox import TAG, remove_deployment, sdk_client, write_config

pytestmark = pytest.mark.integration

DEPLOYMENT = "berthup"
ADDRESS = "127.0.0.41"
SERVICES = ("mariadb", "rabbitmq", "memcached", "keystone")
KEYSTONE = f"{DEPLOYMENT}-keystone"
SELECTOR = {"label": f"{labels.DEPLOYMENT}={DEPLOYMENT}"}


def wipe(client: docker.DockerClient) -> None:
    remove_deployment(client, DEPLOYMENT)
    for image in client.images.list(name="berthup/keystone"):  # tags the tests upgrade to must be new
        for tag in image.tags:
            if tag.startswith("berthup/keystone:zed-"):
                client.images.remove(tag)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    client = sdk_client()
    wipe(client)
    root = tmp_path_factory.mktemp("upgrade")
    config = write_config(root, deployment=DEPLOYMENT, address=ADDRESS, epmd_port=4391, services=SERVICES,
                          extra={"image_namespace": "berthup"})
    assert main(["--quiet", "--config-dir", str(config), "build", *SERVICES]) == 0
    yield {"client": client, "config": config, "root": root}
    wipe(client)


def berth(env: dict[str, Any], *args: str) -> int:
    return main(["--config-dir", str(env["config"]), *args])


def as_json(env: dict[str, Any], capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert berth(env, *args, "--json") == 0
    return json.loads(capsys.readouterr().out)


def cloud(env: dict[str, Any]):  # type: ignore[no-untyped-def]
    import openstack

    secret = yaml.safe_load((env["config"] / "passwords.yml").read_text())["keystone_admin_password"]
    return openstack.connect(auth_url=f"http://{ADDRESS}:5000/v3", username="admin", project_name="admin",
                             password=secret, user_domain_name="Default", project_domain_name="Default",
                             load_yaml_config=False, load_envvars=False)


def keystone(env: dict[str, Any]) -> Any:
    return env["client"].containers.get(KEYSTONE)


def started(env: dict[str, Any]) -> dict[str, str]:
    return {c.name: c.attrs["State"]["StartedAt"] for c in env["client"].containers.list(all=True, filters=SELECTOR)}


def test_first_deploy_records_history(env, capsys):
    assert berth(env, "--quiet", "deploy", "--yes") == 0
    entries = as_json(env, capsys, "history")
    assert sorted(e["service"] for e in entries) == sorted(SERVICES)
    assert all(e["kind"] == "deploy" and e["tags"] == [TAG] for e in entries)
    env["project"] = cloud(env).identity.create_project(name="before-upgrade", domain_id="default").id


def test_upgrade_to_new_tag_of_same_image(env, capsys):
    old_id = keystone(env).image.id
    plan = as_json(env, capsys, "upgrade", "keystone", "--tag", "zed-up2", "--build", "--plan")["plan"]
    assert [(o["kind"], o["action"]) for o in plan["objects"]] == [("image", "build")]
    assert berth(env, "--quiet", "upgrade", "keystone", "--tag", "zed-up2", "--build", "--yes") == 0
    container = keystone(env)
    assert container.attrs["Config"]["Image"] == "berthup/keystone:zed-up2"
    assert container.image.id == old_id  # same recipe: same content hash, same image, new tag
    entry = as_json(env, capsys, "history", "keystone")[-1]
    assert entry["kind"] == "upgrade" and entry["tags"] == ["zed-up2"] and entry["schema_changed"] is False
    dump = Path(entry["backups"][0])
    assert dump.name == "keystone.sql.gz" and stat.S_IMODE(dump.stat().st_mode) == 0o600
    assert cloud(env).identity.find_project(env["project"]) is not None
    changes = as_json(env, capsys, "deploy", "--plan")["plan"]["changes"]
    assert {c["action"] for c in changes} == {"noop"}  # deploy keeps the upgraded tag (pinned)


def test_upgrade_to_really_different_image(env, capsys):
    globals_file = env["config"] / "globals.yml"
    original = globals_file.read_text()
    globals_file.write_text(original + "image_packages:\n  keystone: {append: [less]}\n")
    try:
        before = keystone(env).image.id
        assert berth(env, "--quiet", "upgrade", "keystone", "--tag", "zed-less", "--build", "--yes") == 0
    finally:
        globals_file.write_text(original)
    container = keystone(env)
    assert container.image.id != before
    assert container.exec_run(["which", "less"]).exit_code == 0
    assert cloud(env).identity.find_project(env["project"]) is not None
    env["less_id"], env["up2_id"] = container.image.id, before


def test_rollback_without_schema_change_is_a_fast_swap(env, capsys):
    start = time.monotonic()
    assert berth(env, "--quiet", "rollback", "keystone", "--yes") == 0
    elapsed = time.monotonic() - start
    print(f"rollback without schema change: {elapsed:.1f}s (the figure: bench/bench_upgrade.py)")
    container = keystone(env)
    assert container.image.id == env["up2_id"]
    assert container.attrs["Config"]["Image"] == "berthup/keystone:zed-up2"
    assert cloud(env).identity.find_project(env["project"]) is not None
    assert as_json(env, capsys, "history", "keystone")[-1]["kind"] == "rollback"


def test_upgrade_to_broken_image_puts_old_back(env, capsys):
    override = env["config"] / "template-overrides.j2"
    # a packaging mistake: the WSGI entry point is missing, keystone-manage still works (db sync passes)
    override.write_text("{% block keystone_footer %}\nRUN rm /usr/bin/keystone-wsgi-public\n{% endblock %}\n")
    before = keystone(env).id
    try:
        capsys.readouterr()
        code = berth(env, "upgrade", "keystone", "--tag", "zed-broken", "--build", "--yes")
    finally:
        override.unlink()
    err = capsys.readouterr().err
    assert code == 7, err
    assert "put back" in err and KEYSTONE in err
    container = keystone(env)
    assert container.id == before and container.status == "running"
    assert not env["client"].containers.list(all=True, filters={"name": f"{KEYSTONE}--aside"})
    assert cloud(env).identity.find_project(env["project"]) is not None
    assert berth(env, "--quiet", "rollback", "keystone", "--plan") == 0  # history still sane


def test_interrupted_upgrade_is_finished_by_running_it_again(env, capsys):
    argv = [str(Path(sys.executable).parent / "berth"), "--config-dir", str(env["config"]), "--quiet",
            "upgrade", "keystone", "--tag", "zed-up3", "--build", "--yes"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if env["client"].containers.list(all=True, filters={"name": f"{KEYSTONE}--aside"}):
            os.killpg(proc.pid, signal.SIGKILL)  # killed right after the old container was set aside
            break
        time.sleep(0.05)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the upgrade was not caught midway"
    assert env["client"].containers.list(all=True, filters={"name": f"{KEYSTONE}--aside"})
    assert as_json(env, capsys, "history", "keystone")[-1]["state"] == "pending"
    assert berth(env, "--quiet", "upgrade", "keystone", "--tag", "zed-up3", "--build", "--yes") == 0
    assert not env["client"].containers.list(all=True, filters={"name": f"{KEYSTONE}--aside"})
    assert keystone(env).attrs["Config"]["Image"] == "berthup/keystone:zed-up3"
    last = as_json(env, capsys, "history", "keystone")[-1]
    assert last["state"] == "done" and last["tags"] == ["zed-up3"]
    assert cloud(env).identity.find_project(env["project"]) is not None


def test_rollback_over_schema_change_needs_restore_and_reports_loss(env, capsys):
    history = env["root"] / "state" / DEPLOYMENT / "history.json"
    data = json.loads(history.read_text())
    data["entries"][-1]["schema_changed"] = True  # as if zed-up3's steps had migrated the schema
    history.write_text(json.dumps(data))
    late = cloud(env).identity.create_project(name="after-upgrade", domain_id="default").id
    capsys.readouterr()
    assert berth(env, "rollback", "keystone", "--yes") == 7
    assert "--restore-database" in capsys.readouterr().err
    assert cloud(env).identity.find_project(late) is not None  # refused: nothing changed
    result = as_json(env, capsys, "rollback", "keystone", "--yes", "--restore-database")["results"]
    assert result["lost_rows"]["keystone"]["project"]["before"] > result["lost_rows"]["keystone"]["project"]["after"]
    conn = cloud(env)
    assert conn.identity.find_project(late) is None
    assert conn.identity.find_project(env["project"]) is not None


def test_reconfigure_restarts_only_what_changed(env, capsys):
    before = started(env)
    assert berth(env, "--quiet", "reconfigure", "--yes") == 0
    assert started(env) == before
    change = env["config"] / "config" / "keystone" / "keystone.conf"
    change.parent.mkdir(parents=True, exist_ok=True)
    change.write_text("[DEFAULT]\ndebug = true\n")
    plan = as_json(env, capsys, "reconfigure", "--plan")["plan"]
    assert {c["key"]: c["action"] for c in plan["changes"]}["keystone"] == "restart"
    assert [c["key"] for c in plan["changes"] if c["action"] != "noop"] == ["keystone"]
    assert berth(env, "--quiet", "reconfigure", "--yes") == 0
    after = started(env)
    assert sorted(n for n in after if after[n] != before.get(n)) == [KEYSTONE]
    assert cloud(env).auth_token


def test_stop_then_deploy(env):
    assert berth(env, "--quiet", "stop", "--yes") == 0
    containers = env["client"].containers.list(all=True, filters=SELECTOR)
    assert containers and all(c.status == "exited" for c in containers)
    finished = {c.name: c.attrs["State"]["FinishedAt"] for c in containers}
    assert finished[KEYSTONE] < finished[f"{DEPLOYMENT}-mariadb"]  # dependents stop first
    assert berth(env, "--quiet", "deploy", "--yes") == 0
    assert cloud(env).identity.find_project(env["project"]) is not None


def test_pull_without_registry_is_a_clear_error(env, capsys):
    capsys.readouterr()
    assert berth(env, "pull", "--yes") == 3
    assert "docker_registry" in capsys.readouterr().err


def test_destroy(env, capsys):
    capsys.readouterr()
    assert berth(env, "destroy") == 2
    assert "--yes-i-really-really-mean-it" in capsys.readouterr().err
    assert env["client"].containers.list(filters=SELECTOR)  # refused: still there
    assert berth(env, "--quiet", "destroy", "--yes-i-really-really-mean-it", "--include-images") == 0
    client = env["client"]
    assert not client.containers.list(all=True, filters=SELECTOR)
    assert not client.volumes.list(filters=SELECTOR)
    assert not client.networks.list(filters=SELECTOR)
    assert not [i for i in client.images.list() if any(t.startswith("berthup/keystone:zed-") for t in i.tags)]
    state = env["root"] / "state" / DEPLOYMENT
    assert {p.name for p in state.iterdir()} <= {"backups"}  # the database dumps are kept
    assert (env["config"] / "globals.yml").is_file() and (env["config"] / "passwords.yml").is_file()
