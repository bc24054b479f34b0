"""Labels berth puts on everything it creates, so that facts can be collected by label alone."""

from __future__ import annotations

PREFIX = "berth."
DEPLOYMENT = "berth.deployment"  # deployment name: lets tests and operators run several side by side
SERVICE = "berth.service"  # service folder name, e.g. keystone
CONTAINER = "berth.container"  # container name within the service definition, e.g. keystone
CONFIG_HASH = "berth.config-hash"  # sha256 over container definition + image id + rendered config files
SPEC_HASH = "berth.spec-hash"  # hash of the create-time definition + image id (differs: recreate)
SPEC = "berth.spec"  # the create-time definition as canonical JSON, for field diffs in plans
VOLUME_ID = "berth.volume-id"  # a random id given at volume creation: a re-created volume is a new volume
ROLE = "berth.role"  # "service" (long running) or "oneshot" (bootstrap / db sync / upgrade step)
MANAGED = "berth.managed"  # "true" on every object berth owns (containers, volumes, networks)

# images
IMAGE_NAME = "berth.image.name"
IMAGE_HASH = "berth.image.hash"  # content hash of the rendered recipe + build context + parent's hash
IMAGE_PARENT_HASH = "berth.image.parent-hash"
IMAGE_BASE_SOURCE = "berth.image.base-source"  # how the base rootfs was made (debootstrap mirror / image)


def selector(**labels: str) -> list[str]:
    """Docker `label=` filter values for the given labels (keys use python-friendly names)."""
    return [f"{key}={value}" for key, value in labels.items()]
