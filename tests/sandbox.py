"""A private deployment for tests and benchmarks: its own name, loopback address, Erlang ports and directories.

Host networking means two deployments clash on ports unless each has its own address (every 127.x address
is local) and its own host-wide Erlang ports; one place writes that configuration so no test forgets a part.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker
import yaml

from berth.cli.main import main
from berth.engine import labels
from berth.services.registry import enable_key, service_names

# The CLI of the interpreter running the tests: never a virtualenv path of one machine.
BERTH = [sys.executable, "-m", "berth"]
TAG = "epoxy"  # the image tag of the default release (a config without openstack_release/image_tag)


def write_config(root: Path, *, deployment: str, address: str, epmd_port: int, services: tuple[str, ...],
                 extra: dict[str, Any] | None = None) -> Path:
    """`<root>/etc` with globals.yml (only `services` enabled) and generated passwords; returns the config dir."""
    config_dir = root / "etc"
    config_dir.mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "deployment_name": deployment, "api_address": address, "state_dir": str(root / "state"),
        "log_dir": str(root / "log"), "rabbitmq_epmd_port": epmd_port, "rabbitmq_dist_port": epmd_port + 21300,
        **{enable_key(name): name in services for name in service_names()},
        **(extra or {}),
    }
    (config_dir / "globals.yml").write_text(yaml.safe_dump(values, sort_keys=False))
    if main(["--quiet", "--config-dir", str(config_dir), "genpwd"]) != 0:
        raise RuntimeError(f"genpwd failed for {config_dir}")
    return config_dir


def build_images(config_dir: Path, images: tuple[str, ...]) -> None:
    """The images the deployment needs, as the recipes now say: built on a fresh machine, rebuilt when a recipe
    changed (an image that merely exists may be stale), a no-op of about a second when all are cached."""
    if main(["--quiet", "--config-dir", str(config_dir), "build", *images]) != 0:
        raise RuntimeError(f"building {' '.join(images)} failed")


@contextmanager
def deployed(root: Path, *, deployment: str, address: str, epmd_port: int, services: tuple[str, ...],
             extra: dict[str, Any] | None = None) -> Iterator[Path]:
    """A small deployment of `services` for one test module: an interrupted earlier run's leftovers removed, the
    images built (cached: a second), deployed; yields the config dir and removes everything afterwards, also when
    a test failed."""
    client = sdk_client()
    remove_deployment(client, deployment)
    config_dir = write_config(root, deployment=deployment, address=address, epmd_port=epmd_port,
                              services=services, extra=extra)
    build_images(config_dir, services)
    try:
        started = time.monotonic()
        if main(["--config-dir", str(config_dir), "deploy", "--yes"]) != 0:
            raise RuntimeError(f"deploying {deployment} failed: see the output above")
        print(f"{deployment}: deployed in {time.monotonic() - started:.1f}s")
        yield config_dir
    finally:
        remove_deployment(client, deployment)


def sdk_client() -> docker.DockerClient:
    """The docker SDK, for tests that inspect what berth made in more detail than berth's engine seam shows."""
    return docker.from_env()


def remove_deployment(client: docker.DockerClient, deployment: str) -> None:
    """Every container and volume labelled with the deployment, whatever state a failed run left."""
    selector = {"label": f"{labels.DEPLOYMENT}={deployment}"}
    for container in client.containers.list(all=True, filters=selector):
        container.remove(force=True)
    for volume in client.volumes.list(filters=selector):
        volume.remove(force=True)


def wait_for(what: str, timeout: float, probe: Callable[[], Any], interval: float = 2.0) -> Any:
    """`probe()` until it returns something truthy (returned); AssertionError naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} within {timeout:.0f}s (last: {last!r})")
