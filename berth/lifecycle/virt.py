"""Which virtualization nova-compute gets: KVM only when a guest really boots with it.

On some hosts /dev/kvm opens but guests hang (a paravirtual KVM without VMX, see ENVIRONMENT.md), so an
openable device proves nothing. The test boots berth's own test guest under `-accel kvm` inside the
nova-libvirt image (it has qemu; the host needs none), with no network at all, and waits for its marker.
The decision is cached per host boot, so deploys do not pay for it again: in the deployment's state (what its
configuration was rendered from) and host-wide for this boot and this nova-libvirt image, so a new or
re-created deployment does not boot the test again (on a host where KVM hangs, that costs the whole timeout).
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from berth.config.loader import Config
from berth.engine import labels
from berth.engine.base import Engine, doing
from berth.errors import EngineError
from berth.guest.qemu import MARKER

BOOT_TIMEOUT_S = 15.0  # a working KVM boots the guest to its marker in ~2 s (TCG, for comparison, ~8 s)
LIBVIRT_IMAGE = "nova-libvirt"
CACHE_FILE = "virt.json"
HOST_CACHE = Path("/var/cache/berth/virt.json")


@dataclass(frozen=True)
class VirtDecision:
    virt_type: str  # "kvm" or "qemu"
    reason: str
    boot_id: str = ""
    seconds: float = 0.0


def host_boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def kvm_openable() -> str:
    """'' when /dev/kvm opens read-write, else why not."""
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError as exc:
        return f"/dev/kvm is not usable ({exc.strerror})"
    return ""


def cached_decision(config: Config, *, any_boot: bool = False) -> VirtDecision | None:
    """The decision made since the host last booted (or the last one ever, for rendering: stable configs)."""
    path = config.deployment_dir / CACHE_FILE
    try:
        data = json.loads(path.read_text())
        decision = VirtDecision(**data)
    except (OSError, ValueError, TypeError):
        return None
    return decision if any_boot or decision.boot_id == host_boot_id() else None


def save_decision(config: Config, decision: VirtDecision) -> None:
    config.deployment_dir.mkdir(parents=True, exist_ok=True)
    (config.deployment_dir / CACHE_FILE).write_text(json.dumps(asdict(decision)) + "\n")


def host_decision(image_id: str, cache: Path = HOST_CACHE) -> VirtDecision | None:
    """The decision any deployment made on this host since it booted, with this nova-libvirt image."""
    try:
        data = json.loads(cache.read_text())
        decision = VirtDecision(**data["decision"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if data.get("image_id") != image_id or decision.boot_id != host_boot_id():
        return None
    return decision


def save_host_decision(decision: VirtDecision, image_id: str, cache: Path = HOST_CACHE) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"image_id": image_id, "decision": asdict(decision)}) + "\n")
    except OSError:
        pass  # only a cache: the next deployment tests again


def decide(config: Config, engine: Engine, image_ref: str) -> VirtDecision:
    """KVM if a test guest boots with it (cached per host boot), else qemu with the reason."""
    cached = cached_decision(config)
    if cached is not None:
        return cached
    problem = kvm_openable()
    image_id = _image_id(engine, image_ref)
    if problem:
        decision = VirtDecision("qemu", problem, host_boot_id())
    elif (known := host_decision(image_id)) is not None:
        decision = known
    else:
        decision = boot_test(engine, image_ref)
        save_host_decision(decision, image_id)
    save_decision(config, decision)
    return decision


def _image_id(engine: Engine, image_ref: str) -> str:
    try:
        found = engine.image(image_ref)
    except EngineError:
        return ""
    return found.id if found else ""


_ESCAPES = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|.)")


def _printable(line: str) -> str:
    """A console line without terminal escapes and carriage returns (SeaBIOS clears the screen)."""
    return "".join(ch for ch in _ESCAPES.sub("", line) if ch.isprintable()).strip()


def boot_test(engine: Engine, image_ref: str, timeout: float = BOOT_TIMEOUT_S,
              accel: str = "kvm") -> VirtDecision:
    """Boot the test guest under `accel` in a throw-away container; the marker on its console decides.

    With accel="tcg" the same harness proves it can see a boot at all (the tests' control case).
    """
    from berth.guest import build_test_guest

    art = build_test_guest()
    folder = art.kernel.parent
    command = ["qemu-system-x86_64", "-accel", accel, "-nographic", "-no-reboot", "-m", "256",
               "-kernel", f"/guest/{art.kernel.name}", "-initrd", f"/guest/{art.ramdisk.name}",
               "-append", "console=ttyS0 berth.dhcp_tries=1 berth.metadata_timeout=1", "-net", "none"]
    start = time.monotonic()
    spec = {"image": image_ref, "command": command, "network_mode": "none",
            "devices": ["/dev/kvm:/dev/kvm:rwm"] if accel == "kvm" else [], "volumes": [f"{folder}:/guest:ro"]}
    with doing("starting the KVM boot test"):
        container = engine.create_container(f"berth-kvm-test-{os.getpid()}-{int(start)}", spec,
                                            {labels.MANAGED: "true"})
    try:
        with doing("starting the KVM boot test"):
            engine.start(container.id)
        while time.monotonic() - start < timeout:
            if MARKER in engine.logs(container.id):
                seconds = time.monotonic() - start
                return VirtDecision("kvm" if accel == "kvm" else "qemu",
                                    f"a test guest booted with {accel} in {seconds:.1f}s", host_boot_id(), seconds)
            now = engine.container(container.id)
            if now is None or now.state == "exited":
                break
            time.sleep(0.5)
        tail = " | ".join(_printable(line) for line in engine.logs(container.id, tail=3).splitlines())
        return VirtDecision("qemu", f"/dev/kvm opens but a test guest did not boot with {accel} within {timeout:.0f}s"
                            + (f" ({tail[-200:]})" if tail else ""), host_boot_id(), time.monotonic() - start)
    finally:
        try:
            engine.remove(container.id, force=True)
        except EngineError:
            pass
