"""The real engine: reachable after bootstrap-host, and berth's labels find containers again."""

from __future__ import annotations

import io
import tarfile
import uuid

import pytest

from berth.cli.main import main
from berth.engine import labels
from berth.engine.docker_engine import connect

pytestmark = pytest.mark.integration


def test_engine_reachable_after_bootstrap_host():
    assert main(["--quiet", "bootstrap-host"]) == 0
    client = connect()
    assert client.version()["ApiVersion"]


def _tiny_image(client, name: str) -> str:
    """An image made here from one file: no registry, no base image needed."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"berth label test\n"
        info = tarfile.TarInfo("marker.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    client.api.import_image_from_data(buf.getvalue(), repository=name, tag="latest")
    return f"{name}:latest"


def test_container_with_berth_labels_is_found_by_label():
    client = connect()
    deployment = f"it-{uuid.uuid4().hex[:8]}"
    image = _tiny_image(client, "berthtest/labels")
    container = client.containers.create(
        image, command=["/none"], name=f"{deployment}-probe",
        labels={labels.DEPLOYMENT: deployment, labels.SERVICE: "probe", labels.CONTAINER: "probe",
                labels.MANAGED: "true"},
    )
    try:
        found = client.containers.list(all=True, filters={"label": labels.selector(**{labels.DEPLOYMENT: deployment})})
        assert [c.id for c in found] == [container.id]
        assert found[0].labels[labels.SERVICE] == "probe"
        other = client.containers.list(all=True, filters={"label": f"{labels.DEPLOYMENT}=not-{deployment}"})
        assert container.id not in [c.id for c in other]
    finally:
        container.remove(force=True)
