"""How berth names its images: `[registry/]namespace/name:tag`, in one place for the builder and the deployer."""

from __future__ import annotations


def repository_prefix(registry: str, namespace: str) -> str:
    """`[registry/]namespace/`: where the images of one namespace live (a trailing / on the registry is ignored)."""
    return f"{registry.rstrip('/')}/{namespace}/" if registry else f"{namespace}/"


def image_ref(registry: str, namespace: str, name: str, tag: str) -> str:
    return f"{repository_prefix(registry, namespace)}{name}:{tag}"
