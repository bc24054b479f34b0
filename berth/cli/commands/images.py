"""`berth push`, `berth images export|import`, `berth registry start|stop|status`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from berth.cli.commands.build import make_plan
from berth.cli.context import AppContext, pass_app
from berth.engine.base import Engine
from berth.errors import ConfigError
from berth.images.registry import RegistryStatus


def _refs(app: AppContext, names: tuple[str, ...]) -> list[str]:
    """References of the named images (image, service or profile names; default core) that exist."""
    _client, plan = make_plan(app, names or ("core",), False, None)
    return [item.ref for item in plan.images.values()]


@click.command("push")
@click.argument("names", nargs=-1)
@pass_app
def push_cmd(app: AppContext, names: tuple[str, ...]) -> None:
    """Push images NAMES (default: all) and their parents to docker_registry."""
    from berth.images.registry import push

    client, plan = make_plan(app, names, False, None)
    if not plan.settings.registry:
        raise ConfigError("docker_registry is empty: there is nowhere to push to",
                          "set `docker_registry: 127.0.0.1:4000` in globals.yml and `berth registry start`")
    for item in plan.images.values():
        if not item.cached:
            raise ConfigError(f"{item.ref} is not built (or out of date)", f"run `berth build {item.node.name}` first")
    push_along_tree(app, client, plan, push)


PUSH_WORKERS = 4  # pushes mostly wait on the engine and the registry; a few at a time halve a full push


def push_along_tree(app: AppContext, client: Any, plan: Any, push: Callable[[Any, str], None]) -> None:
    """Each image once its parents are pushed (their layers are then known to the registry and not sent twice),
    up to PUSH_WORKERS at a time; the first failure stops new pushes and is raised."""
    from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

    pending = dict(plan.images)
    done: set[str] = set()
    running: dict[Future[None], str] = {}
    with ThreadPoolExecutor(max_workers=PUSH_WORKERS) as pool:
        while pending or running:
            ready = [n for n, item in pending.items() if all(p in done or p not in plan.images
                                                             for p in item.node.parents)]
            if not ready and not running:
                raise ConfigError(f"cannot order the pushes of {', '.join(pending)}", "report this as a berth bug")
            for name in ready[:PUSH_WORKERS - len(running)]:
                item = pending.pop(name)
                app.echo(f"pushing {item.ref}")
                running[pool.submit(push, client, item.ref)] = name
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                name = running.pop(future)
                future.result()  # raises the push's BuildError; the pool finishes the ones under way
                done.add(name)


@click.group("images")
def images_group() -> None:
    """Offline bundles of built images."""


@images_group.command("export")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("names", nargs=-1)
@click.option("--level", type=click.IntRange(1, 9), default=1, show_default=True, help="gzip compression level.")
@pass_app
def export_cmd(app: AppContext, file: Path, names: tuple[str, ...], level: int) -> None:
    """Write images NAMES (default: core) and their parents to a compressed bundle FILE."""
    from berth.engine import connect
    from berth.images.bundle import export_bundle

    refs = _refs(app, names)
    images = export_bundle(connect(), refs, file, level)
    _report(app, "exported", file, images)


@images_group.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@pass_app
def import_cmd(app: AppContext, file: Path) -> None:
    """Load a bundle made by `berth images export` and check its manifest."""
    from berth.engine import connect
    from berth.images.bundle import import_bundle

    _report(app, "imported", file, import_bundle(connect(), file))


def _report(app: AppContext, verb: str, file: Path, images: list) -> None:  # type: ignore[type-arg]
    if app.json:
        click.echo(json.dumps({"file": str(file), verb: [vars(i) for i in images]}, indent=2))
        return
    app.echo(f"{verb} {len(images)} image(s) {'to' if verb == 'exported' else 'from'} {file}")
    for image in images:
        app.echo(f"  {image.ref}  {image.hash[:12]}")


@click.group("registry")
def registry_group() -> None:
    """The local image registry container (berth_registry on 127.0.0.1:<registry_port>)."""


def _registry_context(app: AppContext) -> tuple[Engine, int, str]:
    from berth.cli.commands.build import image_globals
    from berth.engine import connect
    from berth.images.render import RenderSettings

    globals_ = image_globals(app)
    settings = RenderSettings(namespace=globals_.image_namespace, tag=globals_.image_tag,
                              registry=globals_.docker_registry)
    return connect(), globals_.registry_port, settings.ref("registry")


def _show(app: AppContext, state: RegistryStatus) -> None:
    if app.json:
        click.echo(json.dumps(vars(state)))
    else:
        click.echo(f"registry: {state.state} on {', '.join((state.address, *state.extra_addresses))}")


@registry_group.command("start")
@click.option("--address", default=None,
              help="Publish it on this address too (besides 127.0.0.1): the .1 address of a `berth lab`, where "
                   "the lab hosts pull from. Only loopback and lab addresses are accepted.")
@pass_app
def registry_start(app: AppContext, address: str | None) -> None:
    """Start the registry (build it first: `berth build registry`)."""
    from berth.images import registry

    if address is not None:
        _check_registry_address(address)
    client, port, ref = _registry_context(app)
    state = registry.start(client, ref, port, extra_address=address)
    registry.wait_ready(port)
    _show(app, state)


def _check_registry_address(address: str) -> None:
    """Servers bind to loopback or to addresses berth owns: a lab's machine address qualifies."""
    import ipaddress

    from berth.remote.lab import machine_addresses

    try:
        loopback = ipaddress.ip_address(address).is_loopback
    except ValueError:
        raise ConfigError(f"--address {address!r} is not an IP address", "e.g. 198.51.100.1") from None
    if not loopback and address not in machine_addresses():
        raise ConfigError(f"refusing to publish the registry on {address}: not loopback nor a berth lab's address",
                          "start a lab first (berth lab up), then pass its .1 address (berth lab status)")


@registry_group.command("stop")
@pass_app
def registry_stop(app: AppContext) -> None:
    """Stop and remove the registry container; pushed images stay in its volume."""
    from berth.images import registry

    client, port, _ref = _registry_context(app)
    _show(app, registry.stop(client, port))


@registry_group.command("status")
@pass_app
def registry_status(app: AppContext) -> None:
    """Whether the registry runs, and where."""
    from berth.images import registry

    client, port, _ref = _registry_context(app)
    _show(app, registry.status(client, port))


def register(group: click.Group) -> None:
    group.add_command(push_cmd)
    group.add_command(images_group)
    group.add_command(registry_group)
