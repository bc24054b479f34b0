"""Planning and running builds: decide per image (cached / build) from one engine listing, then build
along the tree with the generic scheduler, streaming each image's log to its own file.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.engine import labels
from berth.engine.base import Engine, ImageInfo
from berth.errors import BuildError, ConfigError
from berth.images.mirror import resolve_mirror
from berth.images.recipes import discover
from berth.images.render import Packages, Renderer, RenderSettings
from berth.images.rootfs import Rootfs, choose_rootfs, make_rootfs
from berth.images.tree import ImageNode, build_tree, named, select
from berth.run.events import Status
from berth.run.scheduler import EventSink, RunResult, Task, run_graph

ROOTFS_TASK = "rootfs"
TAIL_LINES = 15


@dataclass(frozen=True)
class PlannedImage:
    node: ImageNode
    ref: str
    existing: str | None  # id of an image that already has this content hash (None: must build)
    tagged: bool  # `ref` already names that image

    @property
    def cached(self) -> bool:
        return self.existing is not None


@dataclass(frozen=True)
class BuildPlan:
    nodes: Mapping[str, ImageNode]
    images: Mapping[str, PlannedImage]  # the selection, parents before children
    rootfs: Rootfs
    settings: RenderSettings
    release: str
    mirror_url: str = ""

    @property
    def needs_rootfs(self) -> bool:
        return self.rootfs.make and any(not p.cached and not p.node.parents for p in self.images.values())


@dataclass(frozen=True)
class BuildOptions:
    threads: int = 2
    logs_dir: Path = Path("/var/log/berth/build")
    nocache: bool = False  # --force: the engine's layer cache would otherwise make the rebuild a no-op
    labels: Mapping[str, str] = field(default_factory=dict)


def render_settings(globals_: Any, rootfs: Rootfs, apt_sources: str, override: str) -> RenderSettings:
    """RenderSettings from the validated globals; unknown images in image_packages are located errors."""
    packages = {name: Packages(tuple(p.append), tuple(p.remove)) for name, p in globals_.image_packages.items()}
    return RenderSettings(
        namespace=globals_.image_namespace, tag=globals_.image_tag, registry=globals_.docker_registry,
        rootfs=rootfs.ref, apt_sources=apt_sources, release=globals_.base_distro_release,
        openstack_release=globals_.openstack_release,
        packages=packages, override=override,
    )


def check_packages(globals_: Any, known: Iterable[str]) -> None:
    import difflib

    names = set(known)
    problems = []
    for name in globals_.image_packages:
        if name not in names:
            close = difflib.get_close_matches(name, sorted(names), n=3)
            problems.append(f"globals.yml: image_packages.{name}: no such image"
                            + (f" (did you mean {', '.join(close)}?)" if close else ""))
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in image_packages", "use image names from `berth build --list`",
                          details=problems)


def existing_images(engine: Engine) -> dict[tuple[str, str], ImageInfo]:
    """(image name, content hash) -> engine image, from one listing filtered by label.

    Only images tagged `<repo>/<name>:<tag>` count: a child's build leaves untagged intermediate images that
    *inherit* the parent's labels (name and hash), and they must never be mistaken for the parent.
    """
    found: dict[tuple[str, str], ImageInfo] = {}
    for item in engine.images(labels.IMAGE_HASH):
        name = item.labels.get(labels.IMAGE_NAME, "")
        if any(_names_image(tag, name) for tag in item.tags):
            found.setdefault((name, item.labels.get(labels.IMAGE_HASH, "")), item)
    return found


def _names_image(tag: str, name: str) -> bool:
    repo = tag.rsplit(":", 1)[0]
    return repo.rsplit("/", 1)[-1] == name


def plan_build(engine: Engine, globals_: Any, wanted: Iterable[str], *,
               override: str = "", force: bool = False) -> BuildPlan:
    """Render, hash and select; decide cached/build per image. Few, cheap engine calls (no-op must be fast).

    `force` rebuilds the images the words name (a profile names all its members), not their other parents.
    """
    release = globals_.base_distro_release
    recipes = {n: r for n, r in discover().items() if r.for_release(globals_.openstack_release)}
    check_packages(globals_, recipes)
    rootfs = choose_rootfs(engine, release, globals_.base_image)
    mirror = resolve_mirror(globals_.debian_mirror, release)
    settings = render_settings(globals_, rootfs, mirror.sources_list(release), override)
    nodes = build_tree(recipes, Renderer(recipes, settings))
    order = select(nodes, list(wanted))
    forced = named(nodes, list(wanted)) if force else set()
    have = existing_images(engine)
    images = {}
    for name in order:
        ref = settings.ref(name)
        hit = None if name in forced else have.get((name, nodes[name].hash))
        tagged = hit is not None and ref in hit.tags
        images[name] = PlannedImage(nodes[name], ref, hit.id if hit else None, tagged)
    return BuildPlan(nodes, images, rootfs, settings, release, mirror.debian)


def run_build(engine: Engine, plan: BuildPlan, options: BuildOptions,
              on_event: EventSink | None = None) -> RunResult:
    """Build the plan along the tree; never raises for one image's failure (see the RunResult)."""
    options.logs_dir.mkdir(parents=True, exist_ok=True)
    tasks = [_image_task(engine, plan, item, options) for item in plan.images.values()]
    if plan.needs_rootfs:
        tasks.append(Task(ROOTFS_TASK, lambda log: _rootfs(engine, plan, options, log), frozenset(),
                          plan.rootfs.ref))
    return run_graph(tasks, max_workers=options.threads, on_event=on_event)


def _rootfs(engine: Engine, plan: BuildPlan, options: BuildOptions,
            progress: Callable[[str], None]) -> Status:
    from berth.images.mirror import Mirror

    with open(options.logs_dir / "rootfs.log", "w") as log:
        def both(line: str) -> None:
            log.write(line + "\n")
            progress(line)
        make_rootfs(engine, plan.rootfs.ref, plan.release, Mirror(plan.mirror_url), both)
    return Status.SUCCEEDED


def _image_task(engine: Engine, plan: BuildPlan, item: PlannedImage, options: BuildOptions) -> Task:
    deps = {p for p in item.node.parents if p in plan.images}
    if not item.node.parents and plan.needs_rootfs:
        deps.add(ROOTFS_TASK)

    def run(progress: Callable[[str], None]) -> Status:
        if item.cached:
            if not item.tagged:
                _tag(engine, item.existing or "", item.ref)
            return Status.CACHED
        build_image(engine, plan, item, options, progress)
        return Status.SUCCEEDED

    return Task(item.node.name, run, frozenset(deps), item.ref)


def _tag(engine: Engine, image_id: str, ref: str) -> None:
    engine.tag(image_id, ref)


def build_context(node: ImageNode) -> io.BytesIO:
    """A tar of the rendered Dockerfile and exactly the files its COPY/ADD lines use (what the hash covers)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = node.dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size, info.mode, info.mtime = len(data), 0o644, 0
        tar.addfile(info, io.BytesIO(data))
        for rel in node.files:
            tar.add(node.recipe.folder / rel, arcname=str(rel), recursive=False, filter=_owned_by_root)
    buf.seek(0)
    return buf


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 0
    return info


def image_labels(plan: BuildPlan, item: PlannedImage, extra: Mapping[str, str]) -> dict[str, str]:
    parent = item.node.parents[0] if item.node.parents else None
    found = {labels.IMAGE_NAME: item.node.name, labels.IMAGE_HASH: item.node.hash,
             labels.IMAGE_PARENT_HASH: plan.nodes[parent].hash if parent else ""}
    if not parent and plan.rootfs.source != "debootstrap":  # our own rootfs carries the label already
        found[labels.IMAGE_BASE_SOURCE] = plan.rootfs.source
    return {**found, **extra}


def build_image(engine: Engine, plan: BuildPlan, item: PlannedImage, options: BuildOptions,
                progress: Callable[[str], None]) -> None:
    """One engine build, its output streamed to <logs_dir>/<image>.log; a failure carries the log's tail."""
    log_path = options.logs_dir / f"{item.node.name}.log"
    tail: list[str] = []
    error = ""
    started = time.monotonic()
    with open(log_path, "w") as log:
        log.write(f"# berth build {item.ref} hash {item.node.hash}\n")
        stream = engine.build(build_context(item.node), item.ref, image_labels(plan, item, options.labels),
                              nocache=options.nocache)
        for event in stream:
            text = event.text
            if event.error:
                error = event.error.strip()
                text = error
            for line in text.splitlines():
                log.write(line + "\n")
                if line.strip():
                    tail = (tail + [line])[-TAIL_LINES:]
                    progress(line.strip())
        log.write(f"# {'failed' if error else 'built'} in {time.monotonic() - started:.1f}s\n")
    if error:
        raise BuildError(f"{item.node.name}: {error.splitlines()[-1][:300]}", f"full log: {log_path}",
                         details=tail)
