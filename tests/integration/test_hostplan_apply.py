"""A host plan shipped as JSON applies on the real engine exactly as the in-memory plan would.

The plan is written by `berth deploy --plan --offline --write-plans`, read back by `berth apply-plan` in another
process that has no configuration directory at all (as on a host that only received its plan), and the containers
it makes carry the hashes the in-memory plan computed. Own deployment (`berthhp`), address and Erlang ports.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from berth.cli.main import main
from berth.config.loader import load_config
from berth.engine import connect, labels
from berth.lifecycle.hostplans import host_plan
from berth.state.actual import ActualState
from berth.state.observe import observe
from tests.sandbox import BERTH, build_images, remove_deployment, sdk_client, write_config

pytestmark = pytest.mark.integration

DEPLOYMENT = "berthhp"
ADDRESS = "127.0.0.13"
SERVICES = ("mariadb", "memcached", "keystone")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    client = sdk_client()
    remove_deployment(client, DEPLOYMENT)
    root = tmp_path_factory.mktemp("hostplan")
    config_dir = write_config(root, deployment=DEPLOYMENT, address=ADDRESS, epmd_port=4384, services=SERVICES)
    build_images(config_dir, SERVICES)
    yield {"client": client, "config": config_dir, "root": root}
    remove_deployment(client, DEPLOYMENT)


def apply(plan_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BERTH, "--config-dir", "/nonexistent/berth", "apply-plan", str(plan_file)],
                          capture_output=True, text=True, timeout=900, check=False)


def test_a_plan_read_back_from_json_applies_like_the_one_in_memory(env) -> None:
    folder = env["root"] / "plans"
    assert main(["--quiet", "--config-dir", str(env["config"]), "deploy", "--plan", "--offline",
                 "--write-plans", str(folder)]) == 0
    # the same configuration planned in memory, with the images this engine holds (the shipped plan was made
    # without them, as for a host that pulls them: the host fills in the image ids when it has them)
    config = load_config(env["config"])
    images = observe(connect(), DEPLOYMENT, config.deployment_dir).images
    in_memory = {c.name: c.config_hash
                 for c in host_plan(config, "localhost", ActualState(DEPLOYMENT, images=images)).desired.containers}
    proc = apply(folder / "localhost.json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    found = env["client"].containers.list(filters={"label": [f"{labels.DEPLOYMENT}={DEPLOYMENT}",
                                                             f"{labels.ROLE}=service"]})
    assert {c.name: c.labels[labels.CONFIG_HASH] for c in found} == in_memory


def test_the_configuration_then_plans_nothing(env, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config-dir", str(env["config"]), "--json", "deploy", "--plan"]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    assert [c["name"] for c in plan["changes"] if c["action"] != "noop"] == []
    assert [s["name"] for s in plan["steps"] if s["run"]] == []


def test_a_plan_made_before_the_host_changed_is_refused(env) -> None:
    proc = apply(env["root"] / "plans" / "localhost.json")
    assert proc.returncode == 7, proc.stdout + proc.stderr
    assert "changed since its plan was made; nothing was applied" in proc.stderr
    assert f"{DEPLOYMENT}-keystone: new since the plan" in proc.stdout + proc.stderr
