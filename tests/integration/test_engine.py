"""The real engine: reachable after bootstrap-host, and berth's labels find containers again."""

from __future__ import annotations

import io
import tarfile
import uuid

import pytest

from berth.cli.main import main
from berth.engine import labels
from berth.engine.base import ExecResult
from berth.engine.docker_engine import connect
from berth.errors import EngineNotFound
from tests.sandbox import TAG

pytestmark = pytest.mark.integration


def test_engine_reachable_after_bootstrap_host():
    assert main(["--quiet", "bootstrap-host"]) == 0
    engine = connect()
    assert engine.version().api_version
    assert engine.info().root_dir


def _tiny_image(engine, name: str) -> str:
    """An image made here from one file: no registry, no base image needed."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"berth label test\n"
        info = tarfile.TarInfo("marker.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    engine.import_image(buf, f"{name}:latest", [])
    return f"{name}:latest"


def test_container_with_berth_labels_is_found_by_label():
    engine = connect()
    deployment = f"it-{uuid.uuid4().hex[:8]}"
    image = _tiny_image(engine, "berthtest/labels")
    container = engine.create_container(
        f"{deployment}-probe", {"image": image, "command": ["/none"]},
        {labels.DEPLOYMENT: deployment, labels.SERVICE: "probe", labels.CONTAINER: "probe", labels.MANAGED: "true"},
    )
    try:
        found = engine.containers({labels.DEPLOYMENT: deployment})
        assert [c.id for c in found] == [container.id]
        assert found[0].labels[labels.SERVICE] == "probe" and found[0].state == "created"
        other = engine.containers({labels.DEPLOYMENT: f"not-{deployment}"})
        assert container.id not in [c.id for c in other]
    finally:
        engine.remove(container.id)
    assert engine.container(container.id) is None


def test_engine_lifecycle_of_a_container_in_berth_values():
    """create, start, exec, logs, rename, stop, wait and remove answer with berth's values, not SDK objects."""
    engine = connect()
    name = f"berthtest-engine-{uuid.uuid4().hex[:8]}"
    image = _tiny_image(engine, "berthtest/labels")
    created = engine.create_container(name, {"image": f"berth/base:{TAG}", "entrypoint": ["sh", "-c"],
                                             "command": ["echo hello; exec sleep 300"], "network_mode": "none"},
                                      {labels.MANAGED: "true"}) if engine.image(f"berth/base:{TAG}") else None
    if created is None:
        pytest.skip(f"berth/base:{TAG} is not built (only {image} is)")
    try:
        engine.start(name)
        assert engine.exec(name, ["sh", "-c", "echo $X; exit 3"], {"X": "out"}) == ExecResult(3, "out\n")
        assert "hello" in engine.logs(name, tail=5)
        engine.rename(name, f"{name}-x")
        engine.stop(f"{name}-x", 1)
        assert engine.wait(f"{name}-x", 10) in (137, 143)  # killed after the 1 s grace (sleep ignores TERM)
        info = engine.container(created.id)
        assert info is not None and info.name == f"{name}-x" and info.state == "exited"
    finally:
        engine.remove(created.id)
    with pytest.raises(EngineNotFound):
        engine.remove(created.id)
