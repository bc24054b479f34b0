"""wait_healthy on the real engine: a crash before the wait is history, a crash during it fails fast."""

from __future__ import annotations

import time
import uuid

import pytest

from berth.cli.main import main
from berth.engine.docker_engine import connect
from berth.errors import DeployError
from berth.run.actions import wait_healthy
from berth.state.desired import DesiredContainer
from tests.sandbox import TAG, sdk_client

pytestmark = pytest.mark.integration
IMAGE = f"berth/base:{TAG}"


@pytest.fixture(scope="module")
def engine():
    engine = connect()
    if engine.image(IMAGE) is None:
        assert main(["--quiet", "build", "base"]) == 0
    return engine


def _run(script: str):
    """A container whose first start fails (it leaves a marker), under an on-failure restart policy (the SDK:
    berth's specs have no retry count)."""
    return sdk_client().containers.run(
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


def test_an_earlier_crash_does_not_fail_a_now_healthy_container(engine):
    # the writable layer survives restarts of the same container, so the second start succeeds
    container = _run("if [ -e /var/tmp/crashed ]; then touch /tmp/ready; exec sleep 300; fi; "
                             "touch /var/tmp/crashed; exit 3")
    try:
        _settle(container, restarts=1)
        wait_healthy(engine, engine.container(container.id), _want(container.name), secrets=(),
                     progress=lambda m: None)
    finally:
        container.remove(force=True)


def test_a_crash_during_the_wait_fails_fast_with_the_log(engine):
    container = _run("echo starting-and-crashing; sleep 2; exit 4")
    try:
        start = time.monotonic()
        with pytest.raises(DeployError, match="keeps restarting|exited with status") as info:
            wait_healthy(engine, engine.container(container.id), _want(container.name, timeout=60), secrets=(),
                         progress=lambda m: None)
        assert time.monotonic() - start < 30
        assert any("starting-and-crashing" in line for line in info.value.details)
    finally:
        container.remove(force=True)


def test_systempaths_unconfined_gives_a_writable_proc_sys(engine):
    """The CLI-only option is translated for the engine: /proc/sys is writable (with NET_ADMIN, a sysctl)."""
    from berth.run.actions import create

    name = f"berthtest-sysctl-{uuid.uuid4().hex[:8]}"
    spec = {"image": IMAGE, "network_mode": "none", "environment": {}, "volumes": [], "cap_add": ["NET_ADMIN"],
            "privileged": False, "devices": [], "security_opt": ["systempaths=unconfined"], "init": False,
            "restart": "no", "entrypoint": ["sleep", "300"]}
    want = DesiredContainer(key=name, service="test", name=name, host="localhost", image=IMAGE, image_id=None,
                            spec=spec)
    container = create(engine, "berthtest-sysctl", want)
    try:
        engine.start(container.id)
        script = "echo 1 > /proc/sys/net/ipv4/ip_forward && cat /proc/sys/net/ipv4/ip_forward"
        result = engine.exec(container.id, ["sh", "-c", script])
        assert result.code == 0, result.output
        assert result.output.strip() == "1"
        assert sdk_client().containers.get(container.id).attrs["HostConfig"]["MaskedPaths"] == []
    finally:
        engine.remove(container.id)
