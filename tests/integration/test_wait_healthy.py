"""wait_healthy on the real engine: a crash before the wait is history, a crash during it fails fast."""

from __future__ import annotations

import time
import uuid

import pytest

from berth.cli.main import main
from berth.engine.docker_engine import connect
from berth.errors import DeployError
from berth.run.actions import _create_unconfined, wait_healthy
from berth.state.desired import DesiredContainer

pytestmark = pytest.mark.integration
IMAGE = "berth/base:zed"


@pytest.fixture(scope="module")
def client():
    client = connect()
    if not client.images.list(name=IMAGE):
        assert main(["--quiet", "build", "base"]) == 0
    return client


def _run(client, script: str):
    """A container whose first start fails (it leaves a marker), under an on-failure restart policy."""
    return client.containers.run(
        IMAGE, entrypoint=["/bin/sh", "-c", script], name=f"berthtest-wait-{uuid.uuid4().hex[:8]}",
        detach=True, restart_policy={"Name": "on-failure", "MaximumRetryCount": 5}, labels={"berth.test": "wait-healthy"},
    )


def _want(key: str, timeout: float = 20.0) -> DesiredContainer:
    return DesiredContainer(key=key, service="test", name=key, host="localhost", image=IMAGE, image_id=None,
                            health=("cmd", "--", "test", "-e", "/tmp/ready"), health_timeout=timeout)


def _settle(container, restarts: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        state = container.attrs["State"]
        if container.attrs["RestartCount"] >= restarts and state["Running"] and not state["Restarting"] \
                and container.exec_run(["test", "-e", "/tmp/ready"]).exit_code == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"container did not restart {restarts} time(s): {container.attrs['State']}")


def test_an_earlier_crash_does_not_fail_a_now_healthy_container(client):
    # the writable layer survives restarts of the same container, so the second start succeeds
    container = _run(client, "if [ -e /var/tmp/crashed ]; then touch /tmp/ready; exec sleep 300; fi; "
                             "touch /var/tmp/crashed; exit 3")
    try:
        _settle(container, restarts=1)
        wait_healthy(client, container, _want(container.name), secrets=(), progress=lambda m: None)
    finally:
        container.remove(force=True)


def test_a_crash_during_the_wait_fails_fast_with_the_log(client):
    container = _run(client, "echo starting-and-crashing; sleep 2; exit 4")
    try:
        start = time.monotonic()
        with pytest.raises(DeployError, match="keeps restarting|exited with status") as info:
            wait_healthy(client, container, _want(container.name, timeout=60), secrets=(),
                         progress=lambda m: None)
        assert time.monotonic() - start < 30
        assert any("starting-and-crashing" in line for line in info.value.details)
    finally:
        container.remove(force=True)


def test_systempaths_unconfined_gives_a_writable_proc_sys(client):
    """The CLI-only option is translated for the engine: /proc/sys is writable (with NET_ADMIN, a sysctl)."""
    from berth.run.actions import create_kwargs

    name = f"berthtest-sysctl-{uuid.uuid4().hex[:8]}"
    spec = {"image": IMAGE, "network_mode": "none", "environment": {}, "volumes": [], "cap_add": ["NET_ADMIN"],
            "privileged": False, "devices": [], "security_opt": ["systempaths=unconfined"], "init": False,
            "restart": "no"}
    want = DesiredContainer(key=name, service="test", name=name, host="localhost", image=IMAGE, image_id=None,
                            spec=spec)
    kwargs = {**create_kwargs(want), "entrypoint": ["sleep", "300"], "labels": {"berth.test": "sysctl"}}
    container = _create_unconfined(client, kwargs)
    try:
        container.start()
        script = "echo 1 > /proc/sys/net/ipv4/ip_forward && cat /proc/sys/net/ipv4/ip_forward"
        code, out = container.exec_run(["sh", "-c", script])
        assert code == 0, out
        assert out.decode().strip() == "1"
        container.reload()
        assert container.attrs["HostConfig"]["MaskedPaths"] == []
    finally:
        container.remove(force=True)
