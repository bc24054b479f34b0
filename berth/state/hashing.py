"""Drift by hash: equal hash means nothing to do.

`spec_hash` covers what is fixed when a container is created (its definition and image id): a change needs a
new container. `config_hash` adds the rendered config files: a change alone only needs a restart, because the
image's entrypoint copies the files into place at every start.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no whitespace, so equal definitions hash equally.

    Read-only mappings (the frozen values hold MappingProxyType) are written as mappings, with sorted keys like
    any other: their repr would make the hash depend on insertion order, so a plan read back from JSON would
    hash differently from the one that was shipped.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, frozenset | set):
        return sorted(value, key=str)
    return str(value)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def spec_hash(spec: Mapping[str, Any], image_id: str | None) -> str:
    return sha256(canonical_json({"spec": spec, "image": image_id or ""}))


def config_hash(spec: Mapping[str, Any], image_id: str | None, files: Mapping[str, str]) -> str:
    """sha256 over canonical JSON of the container definition + image id + the rendered config files."""
    return sha256(canonical_json({"spec": spec, "image": image_id or "", "files": dict(files)}))


def files_hash(files: Mapping[str, str]) -> str:
    return sha256(canonical_json(dict(files)))
