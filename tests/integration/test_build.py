"""`berth build` against the real engine: a real build, the entrypoint contract, the cache, failures.

Uses its own namespace (berthtest) and config dir; the shared rootfs/base are reused through their content
hash (re-tagged), so a warm machine stays fast and a fresh one builds everything it needs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from berth.cli.main import main
from tests.sandbox import TAG, sdk_client

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

NAMESPACE = "berthtest"


def write_globals(config_dir: Path, **extra: Any) -> Path:
    config_dir.mkdir(parents=True, exist_ok=True)
    # its own deployment name: the machine's all-in-one (`berth`) may run another release, which an implicit
    # openstack_release follows
    data = {"image_namespace": NAMESPACE, "deployment_name": NAMESPACE, **extra}
    (config_dir / "globals.yml").write_text(json.dumps(data))
    return config_dir


def build(config_dir: Path, logs: Path, *names: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    capsys.readouterr()
    code = main(["--json", "--config-dir", str(config_dir), "build", "--logs-dir", str(logs), *names])
    out = capsys.readouterr().out
    return code, {item["image"]: item for item in json.loads(out)["images"]}


def run_with_config(image: str, config_dir: Path, *args: str) -> tuple[int, str]:
    client = sdk_client()
    container = client.containers.run(image, list(args) or None, detach=True,
                                      volumes={str(config_dir): {"bind": "/var/lib/berth/config", "mode": "ro"}})
    try:
        code = container.wait(timeout=60)["StatusCode"]
        return code, container.logs().decode()
    finally:
        container.remove(force=True)


@pytest.fixture(scope="module")
def built_memcached(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """memcached with an extra package, so its hash is new to this machine and the build really happens."""
    config = write_globals(tmp_path_factory.mktemp("cfg"), image_packages={"memcached": {"append": ["less"]}})
    return config, tmp_path_factory.mktemp("logs")


def test_build_then_cached(built_memcached: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    config, logs = built_memcached
    code, first = build(config, logs, "memcached", "--force", capsys=capsys)
    assert code == 0, first
    assert first["memcached"]["status"] == "built"
    assert f"Successfully tagged berthtest/memcached:{TAG}" in (logs / "memcached.log").read_text()
    code, second = build(config, logs, "memcached", capsys=capsys)
    assert code == 0
    assert {v["status"] for v in second.values()} == {"cached"}
    labels = sdk_client().images.get(f"{NAMESPACE}/memcached:{TAG}").labels
    assert labels["berth.image.name"] == "memcached" and len(labels["berth.image.hash"]) == 64
    assert labels["berth.image.base-source"]


def test_entrypoint_places_files_and_runs_the_command(built_memcached: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    (config_dir / "keys").mkdir(parents=True)
    (config_dir / "memcached.conf").write_text("-m 64\n")
    (config_dir / "keys" / "0").write_text("secret-key\n")
    (config_dir / "config.json").write_text(json.dumps({
        "command": "id -un; stat -c '%U:%G %a %n' /etc/memcached.conf /srv/keys /srv/keys/0 /var/log/x;"
                   " cat /etc/memcached.conf",
        "user": "memcache",
        "files": [
            {"source": "memcached.conf", "dest": "/etc/memcached.conf", "owner": "memcache:memcache",
             "mode": "0640"},
            {"source": "keys", "dest": "/srv/keys", "owner": "memcache", "mode": "0600"},
            {"source": "absent", "dest": "/etc/absent", "optional": True},
        ],
        "directories": [{"path": "/var/log/x", "owner": "memcache:memcache", "mode": "0750"}],
    }))
    code, output = run_with_config(f"{NAMESPACE}/memcached:{TAG}", config_dir)
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0] == "memcache"
    assert "memcache:memcache 640 /etc/memcached.conf" in lines
    assert "memcache:memcache 700 /srv/keys" in lines  # directories get x where r is set
    assert "memcache:memcache 600 /srv/keys/0" in lines
    assert "memcache:memcache 750 /var/log/x" in lines
    assert lines[-1] == "-m 64"


def test_arguments_override_the_command_and_bad_config_exits_64(built_memcached: tuple[Path, Path],
                                                                tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"command": ["false"], "user": "memcache"}))
    code, output = run_with_config(f"{NAMESPACE}/memcached:{TAG}", tmp_path, "sh", "-c", "id -u")
    assert (code, output.strip()) == (0, "432")
    (tmp_path / "config.json").write_text(json.dumps({"command": "true", "files": [{"source": "x", "dest": "/x",
                                                                                    "mode": "rw"}]}))
    code, output = run_with_config(f"{NAMESPACE}/memcached:{TAG}", tmp_path)
    assert code == 64
    assert "files[0].mode" in output


def test_failed_install_fails_its_image_skips_children_and_others_build(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_globals(tmp_path / "cfg", image_packages={
        "openstack-base": {"append": ["berth-no-such-package"]},
        "memcached": {"append": ["less"]},
    })
    code, result = build(config, tmp_path / "logs", "keystone", "memcached", capsys=capsys)
    assert code == 6
    assert result["openstack-base"]["status"] == "failed"
    assert "berth-no-such-package" in (tmp_path / "logs" / "openstack-base.log").read_text()
    assert result["keystone"]["status"] == "parent-failed"
    assert result["memcached"]["status"] in ("built", "cached")
    assert result["base"]["status"] in ("built", "cached")


def test_failure_summary_shows_the_log_tail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_globals(tmp_path / "cfg", image_packages={"memcached": {"append": ["berth-no-such-package"]}})
    code = main(["--config-dir", str(config), "build", "--logs-dir", str(tmp_path / "logs"), "memcached"])
    out = capsys.readouterr()
    assert code == 6
    assert "Unable to locate package berth-no-such-package" in out.out
    assert "1 image(s) failed: memcached" in out.err


def test_unknown_image_lists_close_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_globals(tmp_path / "cfg")
    assert main(["--config-dir", str(config), "build", "--list", "memcache"]) == 2
    assert "memcached" in capsys.readouterr().err
