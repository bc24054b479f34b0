"""No value of passwords.yml appears anywhere berth shows or writes something that is not a secret file: the main
command's output, the output of berth's read-only commands (plain and --json), every log file under log_dir, the
state and history files under state_dir (the rendered configuration, which services must read, and the 0600
secret files aside), and what the engine tells about every container (environment, labels, command) and its
log. Checked on the shared all-in-one cloud after everything else ran in it (this module comes last)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from tests.e2e.cloud_env import CloudEnv

pytestmark = pytest.mark.e2e

# shorter values (ports, small numbers) would match by chance; berth's generated secrets are far longer
MIN_LENGTH = 8
READ_ONLY = (("status",), ("--json", "status"), ("history",), ("--json", "history"), ("deploy", "--plan"),
             ("--json", "deploy", "--plan"), ("observe",), ("config", "validate"))


# identifiers, not secrets: Ceph's fsid is in every image location Glance shows its users, a libvirt secret's uuid
# names the secret (its value is client.cinder's key, which is checked)
IDENTIFIERS = ("_fsid", "_uuid")


def secret_values(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            if key != "public_key":  # the public half of a key pair is public
                yield from secret_values(value)
    elif isinstance(data, list):
        for value in data:
            yield from secret_values(value)
    elif isinstance(data, str) and len(data) >= MIN_LENGTH:
        yield data
        yield from (line.strip() for line in data.splitlines() if len(line.strip()) >= MIN_LENGTH)


@pytest.fixture(scope="module")
def secrets(cloud: dict[str, Any]) -> dict[str, str]:
    """Each secret value (and each line of a multi-line one, e.g. a private key) -> the passwords.yml key."""
    env: CloudEnv = cloud["env"]
    data = yaml.safe_load((env.config_dir / "passwords.yml").read_text())
    out: dict[str, str] = {}
    for key, value in data.items():
        if key.endswith(IDENTIFIERS):
            continue
        for text in secret_values(value):
            if not text.startswith("-----"):  # a PEM armour line is the same in every key
                out.setdefault(text, key)
    assert len(out) > 20, "passwords.yml holds the deployment's secrets"
    return out


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return sorted({key for value, key in secrets.items() if value in text})


def written_files(root: Path) -> Iterator[Path]:
    """Files berth writes under `root`, except the rendered configuration (services must read their passwords)
    and files that are secrets by design (mode 0600: keyrings, passwords, plans)."""
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink() or "config" in path.relative_to(root).parts[:1]:
            continue
        if path.stat().st_mode & 0o077 == 0:
            continue
        yield path


def test_berths_output_shows_no_secret(cloud: dict[str, Any], secrets: dict[str, str]) -> None:
    env: CloudEnv = cloud["env"]
    assert leaks(cloud["output"], secrets) == [], "scripts/aio.sh's output"
    for args in READ_ONLY:
        proc = env.berth(*args, check=False)
        assert leaks(proc.stdout + proc.stderr, secrets) == [], f"berth {' '.join(args)}"


def test_logs_and_state_files_hold_no_secret(cloud: dict[str, Any], secrets: dict[str, str]) -> None:
    env: CloudEnv = cloud["env"]
    found = {}
    checked = 0
    for root in (env.config_dir / "log", env.config_dir / "state" / env.deployment):
        for path in written_files(root):
            checked += 1
            hit = leaks(path.read_text(errors="replace"), secrets)
            if hit:
                found[str(path)] = hit
    assert checked > 10, "the deployment wrote logs and state"
    assert found == {}


def test_the_engine_shows_no_secret_of_any_container(cloud: dict[str, Any], secrets: dict[str, str]) -> None:
    env: CloudEnv = cloud["env"]
    client = docker.from_env()
    containers = client.containers.list(all=True, filters={"label": f"berth.deployment={env.deployment}"})
    assert len(containers) > 20
    found = {}
    for container in containers:
        attrs = container.attrs
        shown = json.dumps({"env": attrs["Config"].get("Env"), "labels": attrs["Config"].get("Labels"),
                            "cmd": attrs["Config"].get("Cmd"), "entrypoint": attrs["Config"].get("Entrypoint"),
                            "args": attrs.get("Args")})
        logs = container.logs(tail=5000).decode(errors="replace")
        hit = leaks(shown, secrets) + [f"{key} (log)" for key in leaks(logs, secrets)]
        if hit:
            found[container.name] = hit
    assert found == {}


def test_secret_files_berth_writes_are_mode_0600(cloud: dict[str, Any]) -> None:
    env: CloudEnv = cloud["env"]
    for name in ("passwords.yml", "clouds.yaml", "admin-openrc.sh"):
        path = env.config_dir / name
        assert path.stat().st_mode & 0o777 == 0o600, path
    keyrings = list((env.config_dir / "state").rglob("*.keyring"))
    assert keyrings, "Ceph's clients have keyrings"
    assert [str(k) for k in keyrings if k.stat().st_mode & 0o077] == [], "keyrings readable by others"
