"""Crashes at any moment, then re-run: SIGKILL of `berth deploy`, `berth upgrade --tag` and `berth rollback` at a
random line of their progress output, and SIGKILL of a service container.

After a killed command, running it again converges: nothing is left aside (no `--aside` container, no one-shot
remains, no half-written file in the generated config or state), nothing is lost (a Keystone user made before the
crash still gets a token) and `berth status` shows no drift. A container killed from outside (as the kernel's OOM
killer would) is brought back by the engine's restart policy; one stopped through the engine stays down until the
next deploy; `berth status` names both (restarts, last exit).

One small deployment for the module (`bcrash`: MariaDB, Memcached, RabbitMQ, Keystone on 127.0.0.72, own Erlang
ports, own image namespace, config/state/log under a temporary directory). Each kill point comes from a seed: a line
of the command's run drawn at random (the default run tries one per command, plus a rollback killed the moment its
old container is set aside; `-m extended` more seeds, odd deploy seeds recreating every container);
`BERTH_CRASH_SEEDS=7,8` replays given ones. Every seed prints its kill point (`pytest -s`).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest
import yaml

from berth.engine import labels
from tests.sandbox import BERTH, TAG, remove_deployment, sdk_client, wait_for, write_config

pytestmark = pytest.mark.integration

DEPLOYMENT = "bcrash"
ADDRESS = "127.0.0.72"
NAMESPACE = "bcrash"  # its own image tags: upgrades add tags, the module removes them
SERVICES = ("mariadb", "memcached", "rabbitmq", "keystone")
USER, PASSWORD = "crash-survivor", "a-password-of-the-crash-tests"
SELECTOR = {"label": f"{labels.DEPLOYMENT}={DEPLOYMENT}"}


def seeds(default: tuple[int, ...]) -> list[int]:
    """The seeds to try: BERTH_CRASH_SEEDS (comma separated) replays a failure, else `default`."""
    given = os.environ.get("BERTH_CRASH_SEEDS", "")
    return [int(s) for s in given.split(",") if s.strip()] or list(default)


def wipe(client: docker.DockerClient) -> None:
    remove_deployment(client, DEPLOYMENT)
    for image in client.images.list():
        for tag in image.tags:
            if tag.startswith(f"{NAMESPACE}/"):
                client.images.remove(tag)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    client = sdk_client()
    wipe(client)
    root = tmp_path_factory.mktemp("crash")
    config = write_config(root, deployment=DEPLOYMENT, address=ADDRESS, epmd_port=4397, services=SERVICES,
                          extra={"rabbitmq_dist_port": 25797, "image_namespace": NAMESPACE})
    env = {"client": client, "config": config, "root": root, "lines": {}, "tags": 0}
    try:
        assert berth(env, "build", *SERVICES).returncode == 0
        started = time.monotonic()
        assert berth(env, "deploy", "--yes").returncode == 0
        print(f"first deploy: {time.monotonic() - started:.1f}s")
        admin = connect(env)
        admin.identity.create_user(name=USER, password=PASSWORD, domain_id="default")
        yield env
    finally:
        wipe(client)


def berth(env: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BERTH, "--config-dir", str(env["config"]), *args], capture_output=True, text=True,
                          timeout=900, check=False)


def connect(env: dict[str, Any], user: str = "admin", password: str | None = None) -> Any:
    import openstack

    if password is None:
        password = yaml.safe_load((env["config"] / "passwords.yml").read_text())["keystone_admin_password"]
    return openstack.connect(auth_url=f"http://{ADDRESS}:5000/v3", username=user, password=password,
                             user_domain_name="Default", load_yaml_config=False, load_envvars=False,
                             **({"project_name": "admin", "project_domain_name": "Default"} if user == "admin"
                                else {}))


PROGRESS = re.compile(r"^\[\s*[\d.]+s\] ")  # `berth -v deploy`'s progress lines (the plan comes before them)


def output_lines(env: dict[str, Any], args: tuple[str, ...], cut: int | None, skip: int = 0
                 ) -> tuple[int, str, int | None]:
    """`berth -v ARGS`, SIGKILLed (with everything it started) once it printed `cut` lines of its run (None: to
    its end): a deploy's progress lines, or what follows the first `skip` lines (the plan of an upgrade or a
    rollback). Returns (lines of the run seen, the last line, the exit status: None when killed)."""
    argv = [*BERTH, "--config-dir", str(env["config"]), "-v", *args]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    seen, last = 0, ""
    for number, line in enumerate(proc.stdout, 1):
        if number <= skip or (args[0] == "deploy" and not PROGRESS.match(line)):
            continue
        seen, last = seen + 1, line.rstrip()
        if cut is not None and seen >= cut:
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.stdout.close()
    code = proc.wait(timeout=900)
    return seen, last, None if code == -signal.SIGKILL else code


def plan_length(env: dict[str, Any], args: tuple[str, ...]) -> int:
    """How many lines the command's plan takes (an upgrade's and a rollback's run follows it)."""
    if args[0] == "deploy":
        return 0
    shown = berth(env, "-v", *[a for a in args if a != "--yes"], "--plan")
    assert shown.returncode == 0, shown.stderr[-2000:]
    return len(shown.stdout.splitlines())


# Lines each run prints (`-v`, after its plan) on this deployment, as measured; a run that ends before its kill
# point corrects them. Kill points are drawn from 1 .. lines - 1, so the command is killed before its last line.
LINES = {"deploy-move_logs": 20, "deploy-remove_containers": 14, "upgrade": 20, "rollback": 4}


def kill_at_random_line(env: dict[str, Any], args: tuple[str, ...], seed: int, scenario: str,
                        again: Callable[[], tuple[str, ...]] | None = None) -> None:
    """The seed picks the line of the run's output at which the command is SIGKILLed; the point is printed so a
    failure can be replayed. A command that ends before the line (it printed fewer than thought) is counted, and
    tried again with a point drawn from the count (`again` gives the arguments of that second run)."""
    rng = random.Random(f"{scenario}-{seed}")
    total = env["lines"].setdefault(scenario, LINES[scenario])
    cut = rng.randint(1, total - 1)
    seen, last, code = output_lines(env, args, cut, plan_length(env, args))
    if code == 0:
        print(f"seed {seed}: `berth {' '.join(args)}` ended after {seen} lines, before line {cut}: counted")
        env["lines"][scenario] = total = seen
        args = again() if again else args
        cut = rng.randint(1, total - 1)
        seen, last, code = output_lines(env, args, cut, plan_length(env, args))
    print(f"seed {seed}: `berth {' '.join(args)}` killed at line {seen}/{total} of its run: {last!r}")
    assert code is None, f"seed {seed}: the command ended (exit {code}) before line {cut}: {last}"


def rerun(env: dict[str, Any], *args: str) -> None:
    started = time.monotonic()
    done = berth(env, *args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(f"  re-run `berth {' '.join(args)}`: {time.monotonic() - started:.1f}s")


def status(env: dict[str, Any]) -> list[dict[str, Any]]:
    done = berth(env, "status", "--json")
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def unclean(env: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(r["name"], r["state"], r["drift"]) for r in status(env) if r["state"] != "running" or r["drift"]]


def assert_converged(env: dict[str, Any]) -> None:
    """Nothing aside, nothing half-written, nothing lost, nothing drifted."""
    names = {c.name: c for c in env["client"].containers.list(all=True, filters=SELECTOR)}
    assert not [n for n in names if n.endswith("--aside")], f"left aside: {sorted(names)}"
    assert not [n for n, c in names.items() if c.labels.get(labels.ROLE) == "oneshot"], sorted(names)
    state = env["root"] / "state" / DEPLOYMENT
    partial = [p for p in state.rglob("*") if p.is_file() and p.name.endswith(".tmp")]
    assert not partial, f"half-written files: {partial}"
    for name in ("state.json", "history.json"):
        json.loads((state / name).read_text())
    history = json.loads((state / "history.json").read_text())["entries"]
    assert not [e["id"] for e in history if e["state"] != "done"], "an entry is still pending"
    assert {r["service"] for r in status(env)} == set(SERVICES)
    bad = unclean(env)
    if bad and all(drift == "restart: health check failing" for _n, _s, drift in bad):
        # the engine's own health check (interval, timeout, retries) lags behind berth's probe on a loaded
        # machine: it has to come back by itself, without another deploy
        print(f"  waiting for the engine's health check to settle: {bad}")
        wait_for("the engine's health checks passing", 300, lambda: not unclean(env), interval=5)
        bad = []
    assert not bad, f"berth status is not clean: {bad}"
    assert connect(env, USER, PASSWORD).auth_token, "the user made before the crash is gone"


def keystone_tag(env: dict[str, Any]) -> str:
    return str(env["client"].containers.get(f"{DEPLOYMENT}-keystone").attrs["Config"]["Image"]).rsplit(":", 1)[1]


def remove_containers(env: dict[str, Any]) -> None:
    """Every container of the deployment gone, its volumes kept: the deploy that follows creates them again."""
    for container in env["client"].containers.list(all=True, filters=SELECTOR):
        container.remove(force=True)


# --- SIGKILL of berth itself ---------------------------------------------------------------------------------------


DEPLOY = ("deploy", "--yes")


def move_logs(env: dict[str, Any]) -> None:
    """Another log directory: every container's definition changes (a bind mount), so the deploy that follows
    recreates each one through the reversible swap (stop, set aside, create, wait healthy, remove the old one)."""
    path = env["config"] / "globals.yml"
    values = yaml.safe_load(path.read_text())
    values["log_dir"] = str(env["root"] / ("log-b" if values["log_dir"].endswith("/log") else "log"))
    path.write_text(yaml.safe_dump(values, sort_keys=False))


def deploy_killed(env: dict[str, Any], seed: int) -> None:
    """Odd seeds: every container recreated (a changed definition); even seeds: every container created (they
    were removed, their volumes kept)."""
    change = move_logs if seed % 2 else remove_containers
    change(env)

    def again() -> tuple[str, ...]:
        change(env)
        return DEPLOY
    kill_at_random_line(env, DEPLOY, seed, f"deploy-{change.__name__}", again)
    rerun(env, *DEPLOY)
    assert_converged(env)


@pytest.mark.parametrize("seed", seeds((2,)))
def test_killed_deploy_is_finished_by_running_it_again(env: dict[str, Any], seed: int) -> None:
    deploy_killed(env, seed)


@pytest.mark.extended  # odd seeds recreate every container (Keystone's steps run again): minutes on CI
@pytest.mark.parametrize("seed", seeds((1, 3, 4, 5, 6, 7)))
def test_killed_deploy_more_seeds(env: dict[str, Any], seed: int) -> None:
    deploy_killed(env, seed)


def new_tag(env: dict[str, Any]) -> str:
    """Keystone's image under a tag not used yet (the same image: an upgrade swaps the container all the same)."""
    env["tags"] += 1
    tag = f"crash{env['tags']}"
    env["client"].images.get(f"{NAMESPACE}/keystone:{TAG}").tag(f"{NAMESPACE}/keystone", tag)
    return tag


def upgrade_args(tag: str) -> tuple[str, ...]:
    return ("upgrade", "keystone", "--tag", tag, "--yes")


def upgrade_killed(env: dict[str, Any], seed: int) -> None:
    tags = [new_tag(env)]

    def again() -> tuple[str, ...]:
        tags.append(new_tag(env))
        return upgrade_args(tags[-1])
    kill_at_random_line(env, upgrade_args(tags[0]), seed, "upgrade", again)
    rerun(env, *upgrade_args(tags[-1]))
    assert keystone_tag(env) == tags[-1]
    assert_converged(env)


def kill_when_aside(env: dict[str, Any], args: tuple[str, ...]) -> None:
    """SIGKILL the command the moment Keystone's old container is set aside (the swap's riskiest window)."""
    proc = subprocess.Popen([*BERTH, "--config-dir", str(env["config"]), *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    aside = {"name": f"{DEPLOYMENT}-keystone--aside"}
    while proc.poll() is None and not env["client"].containers.list(all=True, filters=aside):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL, "the command ended before it set the old container aside"
    left = sorted(c.name for c in env["client"].containers.list(all=True, filters=SELECTOR))
    print(f"`berth {' '.join(args)}` killed with {left}")


def rollback_killed(env: dict[str, Any], seed: int | None) -> None:
    """After an upgrade, killed at a random line (`seed`) or when the old container is aside (None). A rollback
    re-run names the entry its plan named: without `--to`, a rollback that had completed before the kill would
    be rolled back in turn (rolling back a rollback is rolling forward)."""
    done = [e for e in json.loads(berth(env, "history", "keystone", "--json").stdout) if e["state"] == "done"]
    assert done[-1]["kind"] == "upgrade", done[-1]
    target, tags, upgraded = done[-2]["id"], done[-2]["tags"], done[-1]["tags"]

    def again() -> tuple[str, ...]:
        rerun(env, *upgrade_args(upgraded[0]))  # the rollback completed: back on the upgrade to try again
        return ("rollback", "keystone", "--to", str(target), "--yes")
    if seed is None:
        kill_when_aside(env, ("rollback", "keystone", "--yes"))
    else:
        kill_at_random_line(env, ("rollback", "keystone", "--yes"), seed, "rollback", again)
    rerun(env, "rollback", "keystone", "--to", str(target), "--yes")
    assert [keystone_tag(env)] == tags
    assert_converged(env)


@pytest.mark.parametrize("seed", seeds((1,)))
def test_killed_upgrade_is_finished_by_running_it_again(env: dict[str, Any], seed: int) -> None:
    upgrade_killed(env, seed)


def test_rollback_killed_with_the_old_container_aside_is_finished_by_running_it_again(env: dict[str, Any]) -> None:
    rollback_killed(env, None)


@pytest.mark.extended
@pytest.mark.parametrize("seed", seeds((2, 3, 4, 5)))
def test_killed_upgrade_and_rollback_more_seeds(env: dict[str, Any], seed: int) -> None:
    upgrade_killed(env, seed)
    rollback_killed(env, seed)


# --- SIGKILL of a service container -----------------------------------------------------------------------------------


def row_of(env: dict[str, Any], key: str) -> dict[str, Any]:
    return next(r for r in status(env) if r["container"] == key)


def test_a_container_killed_from_outside_is_restarted_and_status_says_so(env: dict[str, Any]) -> None:
    """As the OOM killer would: SIGKILL to the container's main process; the engine's restart policy brings it
    back; `berth status` shows the restart and when the process ended (the engine's inspect keeps no exit
    status of a container it restarted)."""
    key = random.Random(f"container-{seeds((1,))[0]}").choice(SERVICES)
    container = env["client"].containers.get(f"{DEPLOYMENT}-{key}")
    before = int(container.attrs["RestartCount"])
    started = time.monotonic()
    os.kill(int(container.attrs["State"]["Pid"]), signal.SIGKILL)
    wait_for(f"{key} restarted by the engine", 60,
             lambda: (c := env["client"].containers.get(container.id)).attrs["RestartCount"] > before
             and c.status == "running", interval=0.2)
    print(f"{key}: killed, restarted by the engine in {time.monotonic() - started:.1f}s")
    wait_for(f"{key} serving again", 180, lambda: row_of(env, key)["health"] in ("healthy", "no check"))
    row = row_of(env, key)
    assert row["restarts"] == before + 1 and row["stopped_at"] and row["last_exit"] is None, row
    assert row["state"] == "running" and not row["drift"], row
    shown = berth(env, "status")
    assert shown.returncode == 0
    assert f"{DEPLOYMENT}-{key}: restarted by the engine 1 time(s)" in shown.stdout, shown.stdout
    wait_for("keystone answering", 120, lambda: connect(env, USER, PASSWORD).auth_token)


def test_a_container_stopped_through_the_engine_is_shown_down_and_started_by_deploy(env: dict[str, Any]) -> None:
    """`docker kill` counts as an operator's stop: the restart policy leaves it down; status says which one is
    down and how it ended, and the next deploy starts it."""
    key = "memcached"
    env["client"].containers.get(f"{DEPLOYMENT}-{key}").kill()
    row = row_of(env, key)
    assert row["state"] == "exited" and row["last_exit"] == 137 and row["drift"].startswith("start"), row
    shown = berth(env, "status")
    assert f"{DEPLOYMENT}-{key}: exited (exit 137" in shown.stdout, shown.stdout
    rerun(env, "deploy", "--yes")
    assert_converged(env)
