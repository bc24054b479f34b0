"""The local image registry container and pushing images to `docker_registry`.

`berth registry start` runs the `registry` image (Debian's docker-registry) as container berth_registry,
published on 127.0.0.1:<registry_port>, storing blobs in a named volume so they survive restarts. With
`--address` it is also published on one more address the caller owns, e.g. a `berth lab`'s .1 address where the
lab hosts' engines pull from (docs/lab.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import docker
import docker.errors

from berth.engine import labels
from berth.engine.docker_engine import engine_errors
from berth.errors import BuildError, NotFoundError

CONTAINER = "berth_registry"
VOLUME = "berth_registry"
INTERNAL_PORT = 5000


@dataclass(frozen=True)
class RegistryStatus:
    running: bool
    state: str  # engine state, or "absent"
    address: str
    image: str = ""
    extra_addresses: tuple[str, ...] = ()  # where else it is published (`--address`)


def _container(client: docker.DockerClient, name: str) -> docker.models.containers.Container | None:
    with engine_errors(f"looking up container {name}"):
        try:
            return client.containers.get(name)
        except docker.errors.NotFound:
            return None


def status(client: docker.DockerClient, port: int, name: str = CONTAINER) -> RegistryStatus:
    found = _container(client, name)
    address = f"127.0.0.1:{port}"
    if found is None:
        return RegistryStatus(False, "absent", address)
    extra = tuple(f"{ip}:{port}" for ip in _published_on(found) if ip != "127.0.0.1")
    return RegistryStatus(found.status == "running", found.status, address, ",".join(found.image.tags), extra)


def _published_on(container: docker.models.containers.Container) -> list[str]:
    bindings = (container.attrs.get("HostConfig", {}).get("PortBindings") or {}).get(f"{INTERNAL_PORT}/tcp") or []
    return [str(b.get("HostIp") or "0.0.0.0") for b in bindings]


def start(client: docker.DockerClient, image_ref: str, port: int, name: str = CONTAINER,
          volume: str = VOLUME, extra_address: str | None = None) -> RegistryStatus:
    """Start (or create) the registry container; the image must have been built (`berth build registry`).

    `extra_address`: publish on that address too (besides loopback); a container published elsewhere is
    recreated (the images stay in the volume)."""
    found = _container(client, name)
    wanted = ["127.0.0.1", *([extra_address] if extra_address else [])]
    if found is not None and sorted(_published_on(found)) != sorted(wanted):
        with engine_errors(f"recreating {name} to publish it on {', '.join(wanted)}"):
            found.remove(force=True)
        found = None
    if found is not None and found.status != "running":
        with engine_errors(f"starting {name}"):
            found.start()
    elif found is None:
        _require_image(client, image_ref)
        command = ["docker-registry", "serve", "/etc/docker/registry/berth.yml"]
        with engine_errors(f"creating {name}"):
            client.containers.run(
                image_ref, command, name=name, user="docker-registry", detach=True, restart_policy={"Name": "unless-stopped"},
                ports={f"{INTERNAL_PORT}/tcp": [(ip, port) for ip in wanted]},
                volumes={volume: {"bind": "/var/lib/docker-registry", "mode": "rw"}},
                labels={labels.MANAGED: "true", labels.SERVICE: "registry", labels.CONTAINER: name},
            )
    return status(client, port, name)


def stop(client: docker.DockerClient, port: int, name: str = CONTAINER) -> RegistryStatus:
    """Stop and remove the container; the named volume (the pushed images) stays."""
    found = _container(client, name)
    if found is not None:
        with engine_errors(f"stopping {name}"):
            found.stop(timeout=10)
            found.remove()
    return status(client, port, name)


def _require_image(client: docker.DockerClient, ref: str) -> None:
    with engine_errors(f"looking up image {ref}"):
        if not client.api.images(name=ref, quiet=True):
            raise NotFoundError(f"image {ref} does not exist", "build it first: `berth build registry`")


def push(client: docker.DockerClient, ref: str) -> None:
    """Push one image reference; the engine's error (e.g. registry unreachable) becomes a BuildError."""
    repo, tag = ref.rsplit(":", 1)
    with engine_errors(f"pushing {ref}"):
        for chunk in client.api.push(repo, tag=tag, stream=True, decode=True):
            if chunk.get("error"):
                raise BuildError(f"pushing {ref} failed: {chunk['error']}",
                                 "is the registry running? `berth registry status`")
