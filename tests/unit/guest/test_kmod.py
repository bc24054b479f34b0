"""Module load order: from a modules.dep file and from the modules' own .modinfo sections."""

from __future__ import annotations

import lzma
import struct
from pathlib import Path

import pytest

from berth.errors import BuildError
from berth.guest import kmod

SAMPLE_DEP = """\
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko \
kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/net/core/failover.ko:
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko \
kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
"""


def _before(order: list[str], first: str, then: str) -> bool:
    return order.index(first) < order.index(then)


def test_closure_from_modules_dep_puts_dependencies_first():
    deps = kmod.parse_modules_dep(SAMPLE_DEP)
    order = kmod.load_order(kmod.WANTED_MODULES, lambda m: deps[m])
    assert sorted(order) == sorted(deps)  # exactly the closure, each once
    assert len(order) == len(set(order))
    for mod, needs in deps.items():
        assert all(_before(order, dep, mod) for dep in needs)


def test_names_are_normalised():
    assert kmod.modname("kernel/drivers/char/hw_random/virtio-rng.ko.xz") == "virtio_rng"


def test_cycle_is_an_error():
    with pytest.raises(BuildError, match="cycle"):
        kmod.load_order(["a"], {"a": ["b"], "b": ["a"]}.__getitem__)


def _elf_with_modinfo(modinfo: bytes) -> bytes:
    """A minimal ELF64 file with sections: null, .modinfo, .shstrtab (enough for the section reader)."""
    shstr = b"\0.modinfo\0.shstrtab\0"
    data_off = 64
    shstr_off = data_off + len(modinfo)
    shoff = shstr_off + len(shstr)
    header = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    header += struct.pack("<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, 3, 2)
    sections = [
        struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        struct.pack("<IIQQQQIIQQ", 1, 1, 2, 0, data_off, len(modinfo), 0, 0, 1, 0),
        struct.pack("<IIQQQQIIQQ", 10, 3, 0, 0, shstr_off, len(shstr), 0, 0, 1, 0),
    ]
    return header + modinfo + shstr + b"".join(sections)


def test_modinfo_depends_is_read_from_the_elf_section():
    blob = _elf_with_modinfo(b"license=GPL\0depends=net_failover,virtio,virtio_ring\0name=virtio_net\0")
    assert kmod.modinfo_depends(blob) == ["net_failover", "virtio", "virtio_ring"]
    assert kmod.modinfo_depends(_elf_with_modinfo(b"depends=\0name=virtio\0")) == []


def test_resolve_reads_modinfo_decompresses_xz_and_skips_builtins(tmp_path: Path):
    moddir = tmp_path / "lib/modules/6.1.0-test-amd64"
    (moddir / "kernel").mkdir(parents=True)
    mods = {"virtio": b"", "virtio_ring": b"", "failover": b"", "net_failover": b"failover",
            "virtio_net": b"virtio,virtio_ring,net_failover", "virtio_pci": b"virtio,virtio_ring"}
    for name, deps in mods.items():
        blob = _elf_with_modinfo(b"depends=" + deps + b"\0")
        if name == "virtio_net":
            (moddir / "kernel" / f"{name}.ko.xz").write_bytes(lzma.compress(blob))
        else:
            (moddir / "kernel" / f"{name}.ko").write_bytes(blob)
    (moddir / "modules.builtin").write_text("kernel/drivers/block/virtio_blk.ko\n")
    resolved = kmod.resolve(moddir)
    names = [n for n, _ in resolved]
    assert "virtio_blk" not in names
    assert set(names) == set(mods)
    assert _before(names, "failover", "net_failover") and _before(names, "net_failover", "virtio_net")
    assert dict(resolved)["virtio_net"].startswith(b"\x7fELF")


def test_missing_module_names_it(tmp_path: Path):
    with pytest.raises(BuildError, match="virtio_pci not found"):
        kmod.resolve(tmp_path, ["virtio_pci"])
