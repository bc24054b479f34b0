"""OpenStack releases: which Debian suite carries each, and which release a deployment runs.

A release is a Debian suite's OpenStack (images are independent of the host's own Debian release). A new
deployment gets DEFAULT_RELEASE; a running one keeps the release it runs until `berth upgrade --release` or
`berth rollback --release` changes it. That release is recorded beside the deployment's history, so a globals.yml
without `openstack_release` never silently switches a running cloud to another release. A globals.yml that names
a release other than the one running is refused by deploy (see `release_mismatch`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from berth.errors import ConfigError

Release = Literal["epoxy", "zed"]
SUITES: dict[str, str] = {"epoxy": "trixie", "zed": "bookworm"}  # newest first
DEFAULT_RELEASE = "epoxy"
RELEASE_FILE = "release"  # in the deployment directory: the release the deployment runs
LEGACY_RELEASE = "zed"  # deployments made before releases were recorded ran Zed
UPGRADES: frozenset[tuple[str, str]] = frozenset({("zed", "epoxy")})  # supported source -> target pairs


def suite_of(release: str) -> str:
    """The Debian suite whose packages make `release`'s images."""
    try:
        return SUITES[release]
    except KeyError:
        raise ConfigError(f"unknown OpenStack release `{release}`",
                          f"use one of: {', '.join(SUITES)}") from None


def recorded_release(deployment_dir: Path) -> str | None:
    """The release the deployment runs: the recorded one, `zed` for a deployment older than the record (its
    history names zed images), None for a deployment never made (or one whose history says nothing)."""
    path = deployment_dir / RELEASE_FILE
    try:
        text = path.read_text().strip()
    except OSError:
        return LEGACY_RELEASE if _ran_zed(deployment_dir) else None
    return text if text in SUITES else None


def _ran_zed(deployment_dir: Path) -> bool:
    """A deployment without the record: Zed when its history names Zed images (berth deployed nothing else
    before releases; a plan applied by `apply-plan` records history but not the release)."""
    from berth.state.history import History

    if not (deployment_dir / "history.json").is_file():
        return False
    entries = History(deployment_dir).entries()  # an unreadable history reads as empty: it says nothing
    return any(tag.startswith(LEGACY_RELEASE) for entry in entries for tag in entry.tags)


def record_release(deployment_dir: Path, release: str) -> None:
    deployment_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = deployment_dir / f".{RELEASE_FILE}.tmp"
    tmp.write_text(release + "\n")
    tmp.replace(deployment_dir / RELEASE_FILE)


def effective_updates(explicit: str | None, explicit_tag: str | None, explicit_suite: str | None,
                      running: str | None) -> dict[str, Any]:
    """The globals fields a release decides: the release (explicit, else the running one, else the default),
    the image tag (explicit, else the release's name) and the Debian suite. Pure: unit-tested."""
    release = explicit or running or DEFAULT_RELEASE
    suite = suite_of(release)
    if explicit_suite and explicit_suite != suite:
        raise ConfigError(f"globals.yml: base_distro_release `{explicit_suite}` does not carry OpenStack {release} "
                          f"(it comes from Debian {suite})",
                          "remove `base_distro_release` from globals.yml: the release decides the suite")
    return {"openstack_release": release, "image_tag": explicit_tag or release, "base_distro_release": suite}


def release_mismatch(configured: str, running: str | None, explicit: bool) -> str | None:
    """Why a deploy of `configured` must not touch a cloud running `running` (None: it may)."""
    if running is None or running == configured or not explicit:
        return None
    verb = "upgrade" if (running, configured) in UPGRADES else "rollback"
    return (f"the cloud runs OpenStack {running} but globals.yml says openstack_release: {configured}; "
            f"a release changes through `berth {verb} --release {configured}"
            + (" --restore-database`" if verb == "rollback" else "`")
            + f", or set openstack_release: {running} in globals.yml")


def unsupported_services(release: str, enabled: list[str], where: Callable[[str], str] | None = None,
                         source: str = "") -> list[str]:
    """One problem per enabled service whose folder does not deploy `release`: located at its switch (`where` gives
    a globals.yml key's `file:line`), saying where the release comes from (`source`, e.g. " (the default
    release)") and both fixes: the switch off, or a release the folder deploys."""
    from berth.services.registry import enable_key
    from berth.state.model import load_service

    locate = where or (lambda key: "globals.yml")
    problems = []
    for name in enabled:
        service = load_service(name)
        if release not in service.releases:
            key = enable_key(name)
            choices = " or ".join(f"`openstack_release: {r}`" for r in service.releases)
            problems.append(f"{locate(key)}: {key}: {name} is not available for OpenStack {release}{source}: its "
                            f"folder deploys {', '.join(service.releases)} only; set `{key}: false`, or set {choices} "
                            "for a new deployment (a running cloud changes release only through `berth upgrade` "
                            "or `berth rollback`)")
    return problems
