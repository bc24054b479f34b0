"""The local image registry container and pushing images to `docker_registry`.

`berth registry start` runs the `registry` image (Debian's docker-registry) as container berth_registry,
published on 127.0.0.1:<registry_port>, storing blobs in a named volume so they survive restarts. With
`--address` it is also published on one more address the caller owns, e.g. a `berth lab`'s .1 address where the
lab hosts' engines pull from (docs/lab.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from berth.engine import labels
from berth.engine.base import ContainerInfo, Engine, doing
from berth.errors import BuildError, NotFoundError

CONTAINER = "berth_registry"
VOLUME = "berth_registry"
INTERNAL_PORT = 5000
PUBLISHED = "berth.registry.published"  # the addresses it is published on, comma-separated


@dataclass(frozen=True)
class RegistryStatus:
    running: bool
    state: str  # engine state, or "absent"
    address: str
    image: str = ""
    extra_addresses: tuple[str, ...] = ()  # where else it is published (`--address`)


def status(engine: Engine, port: int, name: str = CONTAINER) -> RegistryStatus:
    with doing(f"looking up container {name}"):
        found = engine.container(name)
    address = f"127.0.0.1:{port}"
    if found is None:
        return RegistryStatus(False, "absent", address)
    extra = tuple(f"{ip}:{port}" for ip in _published_on(found) if ip != "127.0.0.1")
    image = engine.image(found.image_id)
    return RegistryStatus(found.running, found.state, address, ",".join(image.tags if image else ()), extra)


def _published_on(container: ContainerInfo) -> list[str]:
    """The addresses the registry was published on (recorded in a label when it was created)."""
    return [a for a in container.labels.get(PUBLISHED, "127.0.0.1").split(",") if a]


def start(engine: Engine, image_ref: str, port: int, name: str = CONTAINER,
          volume: str = VOLUME, extra_address: str | None = None) -> RegistryStatus:
    """Start (or create) the registry container; the image must have been built (`berth build registry`).

    `extra_address`: publish on that address too (besides loopback); a container published elsewhere is
    recreated (the images stay in the volume)."""
    with doing(f"looking up container {name}"):
        found = engine.container(name)
    wanted = ["127.0.0.1", *([extra_address] if extra_address else [])]
    if found is not None and sorted(_published_on(found)) != sorted(wanted):
        with doing(f"recreating {name} to publish it on {', '.join(wanted)}"):
            engine.remove(name, force=True)
        found = None
    if found is not None and not found.running:
        with doing(f"starting {name}"):
            engine.start(name)
    elif found is None:
        _require_image(engine, image_ref)
        spec = {"image": image_ref, "command": ["docker-registry", "serve", "/etc/docker/registry/berth.yml"],
                "user": "docker-registry", "restart": "unless-stopped",
                "ports": {f"{INTERNAL_PORT}/tcp": [[ip, port] for ip in wanted]},
                "volumes": [f"{volume}:/var/lib/docker-registry:rw"]}
        with doing(f"creating {name}"):
            engine.create_container(name, spec, {labels.MANAGED: "true", labels.SERVICE: "registry",
                                                 labels.CONTAINER: name, PUBLISHED: ",".join(wanted)})
            engine.start(name)
    return status(engine, port, name)


def wait_ready(port: int, timeout: float = 20.0) -> None:
    """Until the registry answers on loopback: a push right after a (re)start would meet a closed or reset port."""
    import time
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    deadline = time.monotonic() + timeout
    while True:
        try:
            with opener.open(f"http://127.0.0.1:{port}/v2/", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers (an authenticating registry says 401)
        except OSError as exc:
            if time.monotonic() > deadline:
                raise BuildError(f"the registry on 127.0.0.1:{port} does not answer: {exc}",
                                 f"see `docker logs {CONTAINER}`") from None
            time.sleep(0.2)


def stop(engine: Engine, port: int, name: str = CONTAINER) -> RegistryStatus:
    """Stop and remove the container; the named volume (the pushed images) stays."""
    with doing(f"looking up container {name}"):
        found = engine.container(name)
    if found is not None:
        with doing(f"stopping {name}"):
            engine.stop(name, 10)
            engine.remove(name, force=False)
    return status(engine, port, name)


def _require_image(engine: Engine, ref: str) -> None:
    if engine.image(ref) is None:
        raise NotFoundError(f"image {ref} does not exist", "build it first: `berth build registry`")


def push(engine: Engine, ref: str) -> None:
    """Push one image reference; the engine's error (e.g. registry unreachable) becomes a BuildError.

    A reference naming this machine's registry container at another address it is published on (a lab's .1,
    where other hosts pull from) is pushed through loopback under a temporary tag: an engine trusts a plain-HTTP
    registry on 127.0.0.1 without configuration, and on any other address only when listed in its daemon.json,
    which would mean reconfiguring and restarting the machine's engine. Same registry, same repository: the hosts
    pull `<address>:<port>/<namespace>/<name>:<tag>` exactly as pushed.
    """
    target = push_target(engine, ref)
    if target != ref:
        engine.tag(ref, target)
    try:
        for event in engine.push(target):
            if event.error:
                raise BuildError(f"pushing {ref} failed: {event.error}",
                                 "is the registry running? `berth registry status`")
    finally:
        if target != ref:
            engine.remove_image(target)


def push_target(engine: Engine, ref: str) -> str:
    """`ref`, or the same image at `127.0.0.1:<port>` when its registry is a local registry container published on
    that address (see `push`)."""
    registry, _, rest = ref.partition("/")
    host, _, port = registry.rpartition(":")
    if not rest or not port.isdigit() or host in ("127.0.0.1", "localhost", ""):
        return ref
    for found in engine.containers({labels.SERVICE: "registry", labels.MANAGED: "true"}):
        if host in _published_on(found) and found.running:
            return f"127.0.0.1:{port}/{rest}"
    return ref
