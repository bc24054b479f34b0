"""Deploy infrastructure + Keystone on the real engine, then prove idempotency, targeted restarts and repair.

Own deployment name (`berthit`), own config/state/log directories; leftovers of an earlier run are destroyed
first and everything is removed at the end. Host networking: run while no other deployment holds the ports.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import docker
import pytest

from berth.cli.main import main
from berth.engine import labels
from tests.sandbox import build_images, remove_deployment, sdk_client, write_config

pytestmark = pytest.mark.integration

DEPLOYMENT = "berthit"
# its own loopback address and Erlang ports: an all-in-one cloud left running on 127.0.0.1 does not clash
ADDRESS = "127.0.0.11"
SERVICES = ("mariadb", "rabbitmq", "memcached", "keystone")


def destroy(client: docker.DockerClient) -> None:
    remove_deployment(client, DEPLOYMENT)


def started(client: docker.DockerClient) -> dict[str, str]:
    """StartedAt of every service container: equal before and after means nothing was restarted."""
    out = {}
    for container in client.containers.list(all=True, filters={"label": f"{labels.DEPLOYMENT}={DEPLOYMENT}"}):
        out[container.name] = container.attrs["State"]["StartedAt"]
    return out


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    client = sdk_client()
    destroy(client)
    root = tmp_path_factory.mktemp("deploy")
    config_dir = write_config(root, deployment=DEPLOYMENT, address=ADDRESS, epmd_port=4381, services=SERVICES)
    build_images(config_dir, SERVICES)
    yield {"client": client, "config": config_dir, "root": root}
    destroy(client)


def berth(env, *args: str) -> int:
    return main(["--config-dir", str(env["config"]), *args])


def token(env) -> str:
    import openstack
    import yaml

    passwords = yaml.safe_load((env["config"] / "passwords.yml").read_text())
    conn = openstack.connect(auth_url=f"http://{ADDRESS}:5000/v3", username="admin", project_name="admin",
                             password=passwords["keystone_admin_password"], user_domain_name="Default",
                             project_domain_name="Default", load_yaml_config=False, load_envvars=False)
    return str(conn.auth_token)


def test_deploy_issues_tokens(env):
    start = time.monotonic()
    assert berth(env, "deploy", "--yes") == 0
    elapsed = time.monotonic() - start
    assert token(env)
    print(f"deploy took {elapsed:.1f}s")
    log = env["root"] / "log" / "keystone" / "keystone.log"
    assert log.is_file() and log.stat().st_size > 0  # the log file on the host, besides the engine log
    config = env["root"] / "state" / DEPLOYMENT / "config" / "keystone"
    assert oct(config.stat().st_mode & 0o777) == "0o700"
    assert oct((config / "keystone.conf").stat().st_mode & 0o777) == "0o600"


def test_redeploy_changes_nothing(env, capsys):
    before = started(env["client"])
    start = time.monotonic()
    assert berth(env, "deploy", "--yes") == 0
    elapsed = time.monotonic() - start
    assert started(env["client"]) == before
    assert elapsed < 5, f"no-op deploy took {elapsed:.1f}s"
    assert "nothing to do" in capsys.readouterr().out


def test_post_deploy_openstack_client(env):
    assert berth(env, "--quiet", "post-deploy") == 0
    for name in ("admin-openrc.sh", "clouds.yaml"):
        assert oct((env["config"] / name).stat().st_mode & 0o777) == "0o600"
    script = (f". {env['config'] / 'admin-openrc.sh'} && "
              f"{Path(sys.executable).parent / 'openstack'} token issue -f value -c id")
    result = subprocess.run(["bash", "-c", script], check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) > 20


def test_override_restarts_only_keystone(env, capsys):
    override = env["config"] / "config" / "keystone" / "keystone.conf"
    override.parent.mkdir(parents=True)
    override.write_text("[DEFAULT]\ndebug = true\n")
    capsys.readouterr()
    assert berth(env, "deploy", "--plan", "--json") == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    actions = {c["key"]: c["action"] for c in plan["changes"]}
    assert actions == {"keystone": "restart", "mariadb": "noop", "rabbitmq": "noop", "memcached": "noop"}
    keystone = next(c for c in plan["changes"] if c["key"] == "keystone")
    assert "+debug = true" in keystone["files"][0]["diff"]
    passwords = (env["config"] / "passwords.yml").read_text()
    assert all(line.split(": ")[1] not in json.dumps(plan) for line in passwords.splitlines() if ": " in line)
    before = started(env["client"])
    assert berth(env, "deploy", "--yes") == 0
    after = started(env["client"])
    changed = sorted(name for name in after if after[name] != before.get(name))
    assert changed == [f"{DEPLOYMENT}-keystone"]
    assert token(env)
    assert berth(env, "deploy", "--yes") == 0  # the restart was recorded: nothing to do now
    assert started(env["client"]) == after


def test_port_in_use_fails_prechecks_naming_the_container(env, capsys):
    env["client"].containers.get(f"{DEPLOYMENT}-memcached").remove(force=True)
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind((ADDRESS, 11211))
        holder.listen()
        assert berth(env, "deploy", "--yes") == 5
    err = capsys.readouterr()
    assert "11211" in err.out + err.err and "memcached" in err.out + err.err


def test_container_killed_mid_deploy_is_repaired_by_a_rerun(env):
    client = env["client"]
    client.containers.get(f"{DEPLOYMENT}-keystone").remove(force=True)
    killed = threading.Event()

    def kill_new_keystone() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                container = client.containers.get(f"{DEPLOYMENT}-keystone")
                if container.status == "running":
                    container.kill()
                    killed.set()
                    return
            except docker.errors.NotFound:
                pass
            time.sleep(0.05)

    killer = threading.Thread(target=kill_new_keystone)
    killer.start()
    code = berth(env, "deploy", "--yes", "--skip-prechecks")
    killer.join()
    assert killed.is_set()
    assert code == 7  # the deploy names the failed container
    assert berth(env, "deploy", "--yes") == 0  # memcached (removed above) and keystone both come back
    assert token(env)
    states = {c.name: c.status for c in client.containers.list(all=True, filters={
        "label": f"{labels.DEPLOYMENT}={DEPLOYMENT}"})}
    assert states == {f"{DEPLOYMENT}-{s}": "running" for s in SERVICES}
