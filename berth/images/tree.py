"""The image tree, read back from the rendered `FROM` lines (as kolla does), and content hashes.

An image's hash covers its rendered Dockerfile (with parent references replaced by the parents' names, so the
hash does not depend on namespace or registry), the files its COPY/ADD lines use, and its parents' hashes.
Equal hash = same image: the build is skipped.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from berth.errors import BuildError, NotFoundError
from berth.images.recipes import PROFILES, Recipe, discover
from berth.images.render import Renderer

FROM_RE = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(?P<ref>\S+)(?:\s+AS\s+(?P<stage>\S+))?\s*$", re.IGNORECASE | re.MULTILINE)
COPY_RE = re.compile(r"^\s*(?:COPY|ADD)\s+(?P<args>.+)$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class ImageNode:
    name: str
    recipe: Recipe
    dockerfile: str
    parents: tuple[str, ...]
    files: tuple[Path, ...]  # build files, relative to the recipe's folder
    hash: str


def from_refs(dockerfile: str) -> list[tuple[str, str | None]]:
    """(reference, stage name) of every FROM line."""
    return [(m["ref"], m["stage"]) for m in FROM_RE.finditer(dockerfile)]


def parents_of(name: str, dockerfile: str, known_refs: Mapping[str, str], roots: Iterable[str]) -> list[str]:
    """Berth images this Dockerfile builds FROM; an unknown reference is an error naming it."""
    stages: set[str] = set()
    parents: list[str] = []
    for ref, stage in from_refs(dockerfile):
        if ref in known_refs:
            parents.append(known_refs[ref])
        elif ref not in stages and ref not in set(roots):
            raise BuildError(f"image {name}: FROM {ref} is neither a berth image nor the root image",
                             "use FROM {{ image(\"<name>\") }} (or {{ rootfs }} in a root recipe)")
        if stage:
            stages.add(stage)
    if not from_refs(dockerfile):
        raise BuildError(f"image {name}: its recipe has no FROM line", "start the recipe with FROM {{ image(...) }}")
    return list(dict.fromkeys(parents))


def copy_sources(dockerfile: str) -> list[str]:
    """Context paths used by COPY/ADD (flags and the destination dropped; --from copies skipped)."""
    found: list[str] = []
    text = dockerfile.replace("\\\n", " ")
    for match in COPY_RE.finditer(text):
        args = match["args"].strip()
        words = _json_list(args) if args.startswith("[") else shlex.split(args)
        if any(w.startswith("--from") for w in words):
            continue
        words = [w for w in words if not w.startswith("--")]
        found.extend(words[:-1])
    return found


def _json_list(args: str) -> list[str]:
    import json

    try:
        value = json.loads(args)
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def build_files(recipe: Recipe, dockerfile: str) -> tuple[Path, ...]:
    """Files the build needs, relative to the recipe folder; a missing one is an error naming it."""
    folder = recipe.folder
    out: set[Path] = set()
    for source in copy_sources(dockerfile):
        matches = sorted(folder.glob(source)) if any(c in source for c in "*?[") else [folder / source]
        if not matches or not all(m.exists() for m in matches):
            raise BuildError(f"{recipe.path}: COPY/ADD source {source} does not exist in {folder}",
                             "add the file beside the recipe or fix the path")
        for match in matches:
            items = [match] if match.is_file() else [p for p in match.rglob("*") if p.is_file()]
            out.update(p.relative_to(folder) for p in items)
    return tuple(sorted(out))


def content_hash(recipe: Recipe, normalized: str, files: Iterable[Path], parent_hashes: Iterable[str]) -> str:
    digest = hashlib.sha256()
    digest.update(normalized.encode())
    for rel in files:
        path = recipe.folder / rel
        digest.update(f"\0file {rel} {path.stat().st_mode & 0o777:o}\0".encode())
        digest.update(path.read_bytes())
    for parent in parent_hashes:
        digest.update(f"\0parent {parent}".encode())
    return digest.hexdigest()


def build_tree(recipes: Mapping[str, Recipe], renderer: Renderer) -> dict[str, ImageNode]:
    """Render every recipe, find parents from FROM lines, hash in dependency order."""
    refs = {renderer.settings.ref(name): name for name in recipes}
    rendered = {name: renderer.render(recipe) for name, recipe in recipes.items()}
    parents = {name: parents_of(name, text, refs, [renderer.settings.rootfs]) for name, text in rendered.items()}
    nodes: dict[str, ImageNode] = {}

    def visit(name: str, path: tuple[str, ...]) -> ImageNode:
        if name in nodes:
            return nodes[name]
        if name in path:
            raise BuildError(f"image cycle: {' -> '.join(path + (name,))}", "fix the FROM lines")
        parent_nodes = [visit(p, path + (name,)) for p in parents[name]]
        text = rendered[name]
        normalized = FROM_RE.sub(lambda m: _normalize_from(m, refs), text)
        files = build_files(recipes[name], text)
        digest = content_hash(recipes[name], normalized, files, [p.hash for p in parent_nodes])
        nodes[name] = ImageNode(name, recipes[name], text, tuple(parents[name]), files, digest)
        return nodes[name]

    for name in sorted(recipes):
        visit(name, ())
    return nodes


def _normalize_from(match: re.Match[str], refs: Mapping[str, str]) -> str:
    ref = match["ref"]
    return match[0].replace(ref, f"@berth-image:{refs[ref]}") if ref in refs else match[0]


def ancestors(nodes: Mapping[str, ImageNode], name: str) -> list[str]:
    out: list[str] = []
    for parent in nodes[name].parents:
        out += [a for a in ancestors(nodes, parent) + [parent] if a not in out]
    return out


def named(nodes: Mapping[str, ImageNode], wanted: Iterable[str]) -> set[str]:
    """Images meant by image names, service names and profiles (infra, core, all; nothing given = all)."""
    return {name for word in (list(wanted) or ["all"]) for name in _expand(nodes, word)}


def select(nodes: Mapping[str, ImageNode], wanted: Iterable[str]) -> list[str]:
    """The named images plus all their parents, parents first."""
    chosen: set[str] = set()
    for name in named(nodes, wanted):
        chosen.update(ancestors(nodes, name) + [name])
    return topo_order(nodes, chosen)


def _expand(nodes: Mapping[str, ImageNode], word: str) -> list[str]:
    if word in PROFILES:
        return [n for n, node in nodes.items() if node.recipe.in_profile(word)]  # type: ignore[arg-type]
    if word in nodes:
        return [word]
    by_service = [n for n, node in nodes.items() if node.recipe.service == word]
    if by_service:
        return by_service
    _refuse_other_release(word)
    vocabulary = sorted(set(nodes) | {n.recipe.service for n in nodes.values() if n.recipe.service} | set(PROFILES))
    close = difflib.get_close_matches(word, vocabulary, n=5, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else "`berth build --list` shows every image"
    raise NotFoundError(f"no image, service or profile named {word!r}", hint)


def topo_order(nodes: Mapping[str, ImageNode], names: Iterable[str]) -> list[str]:
    """Parents before children, otherwise alphabetical (stable output for --list and summaries)."""
    wanted = set(names)
    out: list[str] = []

    def visit(name: str) -> None:
        if name in out:
            return
        for parent in nodes[name].parents:
            if parent in wanted:
                visit(parent)
        out.append(name)

    for name in sorted(wanted):
        visit(name)
    return out


def _refuse_other_release(word: str) -> None:
    """An image or service whose recipes exist for other releases only (Murano: Zed) is named as such, not as an
    unknown word."""
    recipes = [r for r in discover().values() if word in (r.name, r.service) and r.releases is not None]
    if recipes:
        releases = sorted({release for r in recipes for release in r.releases or ()})
        raise NotFoundError(f"{word!r} has no image for this release: its images are built for OpenStack "
                            f"{', '.join(releases)} only",
                            f"build it with a configuration whose openstack_release is {' or '.join(releases)}")
