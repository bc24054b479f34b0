"""The local registry container, pushing to it, and offline bundles, against the real engine."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from berth.cli.main import main
from berth.engine.docker_engine import connect
from berth.images import registry
from berth.images.bundle import export_bundle, import_bundle, read_manifest
from tests.sandbox import TAG, sdk_client

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

NAMESPACE = "berthtest"
PORT = 4987  # not the default 4000: an operator's registry may run there
NAME = "berthtest_registry"


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg")
    # its own deployment name: the machine's all-in-one may run another release (an implicit release follows it)
    (path / "globals.yml").write_text(json.dumps({"image_namespace": NAMESPACE, "deployment_name": NAMESPACE}))
    logs = tmp_path_factory.mktemp("logs")
    assert main(["--quiet", "--config-dir", str(path), "build", "--logs-dir", str(logs), "registry"]) == 0
    return path


@pytest.fixture
def running_registry(config_dir: Path):  # type: ignore[no-untyped-def]
    client = connect()
    registry.stop(client, PORT, NAME)
    state = registry.start(client, f"{NAMESPACE}/registry:{TAG}", PORT, NAME, volume=NAME)
    yield state
    registry.stop(client, PORT, NAME)
    client.remove_volume(NAME, force=True)


def catalog() -> list[str]:
    for _ in range(50):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/v2/_catalog", timeout=2) as response:
                return list(json.load(response)["repositories"])
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the registry never answered")


def test_registry_runs_on_loopback_and_receives_pushes(running_registry: registry.RegistryStatus) -> None:
    assert running_registry.running and running_registry.address == f"127.0.0.1:{PORT}"
    client = connect()
    ports = sdk_client().containers.get(NAME).attrs["HostConfig"]["PortBindings"]
    assert ports == {"5000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(PORT)}]}
    assert catalog() == []
    ref = f"127.0.0.1:{PORT}/{NAMESPACE}/registry:{TAG}"
    client.tag(f"{NAMESPACE}/registry:{TAG}", ref)
    try:
        registry.push(client, ref)
    finally:
        client.remove_image(ref)
    assert catalog() == [f"{NAMESPACE}/registry"]


def test_status_of_an_absent_registry() -> None:
    state = registry.status(connect(), PORT, "berthtest_no_such_registry")
    assert (state.running, state.state) == (False, "absent")


def test_bundle_round_trip(config_dir: Path, tmp_path: Path) -> None:
    client = connect()
    ref = f"{NAMESPACE}/registry:{TAG}"
    bundle = tmp_path / "images.tar.gz"
    exported = export_bundle(client, [ref], bundle)
    assert [i.ref for i in read_manifest(bundle)] == [ref]
    before = client.image(ref)
    assert before is not None
    client.remove_image(ref)  # the tag goes; berth/registry (same id) may keep the layers
    imported = import_bundle(client, bundle)
    assert imported == exported
    after = client.image(ref)
    assert after is not None and after.labels["berth.image.hash"] == before.labels["berth.image.hash"]


def test_import_refuses_a_file_that_is_no_bundle(tmp_path: Path) -> None:
    import gzip

    bogus = tmp_path / "x.tar.gz"
    with gzip.open(bogus, "wb") as handle:
        handle.write(b"not a tar")
    assert main(["images", "import", str(bogus)]) != 0
