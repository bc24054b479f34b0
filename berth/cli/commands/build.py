"""`berth build`: one image per service, built in parallel along the image tree, cached by content hash."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from berth.cli.context import AppContext, pass_app
from berth.config.globals import GlobalsBase
from berth.engine.base import Engine
from berth.errors import BuildError, ConfigError
from berth.images.builder import ROOTFS_TASK, BuildOptions, BuildPlan, plan_build, run_build
from berth.run.events import Status
from berth.run.scheduler import RunResult
from berth.ui.progress import reporter_for

WORDS = {Status.SUCCEEDED: "built", Status.CACHED: "cached", Status.SKIPPED: "parent-failed"}
OVERRIDE_FILE = "template-overrides.j2"


def load_override(app: AppContext, path: Path | None) -> str:
    """--template-override FILE, else <config-dir>/template-overrides.j2 when present."""
    chosen = path or app.config_dir / OVERRIDE_FILE
    return chosen.read_text() if chosen.is_file() else ""


def image_globals(app: AppContext) -> GlobalsBase:
    """Only globals.yml: images can be built before passwords or an inventory exist."""
    from berth.config.loader import validate_globals, with_running_release
    from berth.config.yamlfile import load_mapping

    located = load_mapping(app.config_dir / "globals.yml")
    globals_, problems = validate_globals(located)
    if globals_ is None:
        raise ConfigError(f"{len(problems)} problem(s) in {located.path}", "fix the lines named above",
                          details=problems)
    return with_running_release(globals_)[0]


def make_plan(app: AppContext, names: tuple[str, ...], force: bool,
              override: Path | None) -> tuple[Engine, BuildPlan]:
    from berth.engine import connect

    globals_ = image_globals(app)
    client = connect()
    return client, plan_build(client, globals_, with_enabled(globals_, names), override=load_override(app, override),
                              force=force)


def with_enabled(globals_: GlobalsBase, names: tuple[str, ...]) -> tuple[str, ...]:
    """The word `enabled` stands for the services globals.yml enables (those that run containers): what a deploy
    of this configuration runs, and no image it never starts."""
    from berth.config.globals import is_enabled
    from berth.services.registry import service_meta, service_names

    if "enabled" not in names:
        return names
    enabled = [n for n in service_names() if service_meta(n).get("containers") and is_enabled(globals_, n)]
    return tuple(dict.fromkeys(word for name in names for word in (enabled if name == "enabled" else [name])))


def print_tree(app: AppContext, plan: BuildPlan) -> None:
    """Each selected image under its parent, with cached/missing."""
    if app.json:
        click.echo(json.dumps([{"image": n, "ref": p.ref, "parents": list(p.node.parents), "hash": p.node.hash,
                                "cached": p.cached, "service": p.node.recipe.service,
                                "profile": p.node.recipe.profile} for n, p in plan.images.items()], indent=2))
        return
    children: dict[str, list[str]] = {}
    for name, item in plan.images.items():
        children.setdefault(item.node.parents[0] if item.node.parents else "", []).append(name)

    def show(name: str, depth: int) -> None:
        item = plan.images[name]
        state = click.style("cached", fg="green") if item.cached else click.style("missing", fg="yellow")
        click.echo(f"{'  ' * depth}{name:<{36 - 2 * depth}} {state}  {item.node.recipe.profile:<5} {item.ref}")
        for child in children.get(name, []):
            show(child, depth + 1)

    click.echo(f"{plan.rootfs.ref} ({plan.rootfs.source}{', to be made' if plan.rootfs.make else ''})")
    for root in children.get("", []):
        show(root, 1)


def summary(app: AppContext, plan: BuildPlan, result: RunResult, logs_dir: Path) -> None:
    if app.json:
        click.echo(json.dumps({"ok": result.ok, "elapsed": round(result.elapsed, 1), "images": [
            {"image": o.key, "status": WORDS.get(o.status, o.status.value), "elapsed": round(o.elapsed, 1),
             "ref": plan.images[o.key].ref if o.key in plan.images else plan.rootfs.ref,
             "log": str(logs_dir / f"{o.key}.log"), "message": o.message}
            for o in result.outcomes.values()]}, indent=2))
        return
    if app.quiet:
        return
    console = Console(stderr=False, highlight=False)
    table = Table(title=f"berth build: {result.elapsed:.1f}s", title_justify="left")
    for column in ("image", "result", "time", "note"):
        table.add_column(column)
    for key in [ROOTFS_TASK, *plan.images]:
        outcome = result.outcomes.get(key)
        if outcome:
            word = WORDS.get(outcome.status, outcome.status.value)
            table.add_row(key, word, f"{outcome.elapsed:.1f}s", outcome.message[:80])
    console.print(table)
    for outcome in result.with_status(Status.FAILED):
        console.print(f"[red]{outcome.key} failed[/red]: {outcome.message}")
        error = outcome.error
        for line in getattr(error, "details", []):
            console.print(f"  | {line}", markup=False, highlight=False)
        if getattr(error, "hint", None):
            console.print(f"  {error.hint}", markup=False)  # type: ignore[union-attr]


def push_images(app: AppContext, client: Engine, plan: BuildPlan, result: RunResult) -> None:
    from berth.images.registry import push

    for name, item in plan.images.items():
        if result.outcomes[name].status.ok:
            app.echo(f"pushing {item.ref}")
            push(client, item.ref)


@click.command("build")
@click.argument("names", nargs=-1)
@click.option("--list", "list_only", is_flag=True, help="Print the image tree (cached / missing) and exit.")
@click.option("--threads", type=click.IntRange(1, 64), default=lambda: os.cpu_count() or 2,
              show_default="number of cores", help="Images built at once.")
@click.option("--force", is_flag=True, help="Rebuild the named images even when an image with the same content hash exists.")
@click.option("--push", "push_after", is_flag=True, help="Push the images to docker_registry afterwards.")
@click.option("--logs-dir", type=click.Path(path_type=Path, file_okay=False), default=Path("/var/log/berth/build"),
              show_default=True, help="One log file per image.")
@click.option("--template-override", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="Jinja blocks replacing recipe blocks (default: <config-dir>/template-overrides.j2).")
@pass_app
def build(app: AppContext, names: tuple[str, ...], list_only: bool, threads: int, force: bool,
          push_after: bool, logs_dir: Path, template_override: Path | None) -> None:
    """Build images NAMES (image, service, `enabled` (the services globals.yml enables) or profile: infra, core,
    all; default all) and their parents."""
    client, plan = make_plan(app, names, force, template_override)
    if list_only:
        print_tree(app, plan)
        return
    keys = ([ROOTFS_TASK] if plan.needs_rootfs else []) + list(plan.images)
    with reporter_for(keys, json=app.json, quiet=app.quiet, verbose=app.verbose, words=WORDS) as sink:
        result = run_build(client, plan, BuildOptions(threads=threads, logs_dir=logs_dir, nocache=force), sink)
    summary(app, plan, result, logs_dir)
    if not result.ok:
        failed = [o.key for o in result.with_status(Status.FAILED)]
        skipped = [o.key for o in result.with_status(Status.SKIPPED)]
        raise BuildError(f"{len(failed)} image(s) failed: {', '.join(failed)}"
                         + (f"; {len(skipped)} not built because a parent failed" if skipped else ""),
                         f"see the logs in {logs_dir}")
    if push_after:
        push_images(app, client, plan, result)


def register(group: click.Group) -> None:
    group.add_command(build)
