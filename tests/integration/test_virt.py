"""The virtualization decision on the real engine: a guest must boot, an openable /dev/kvm proves nothing."""

from __future__ import annotations

import pytest

from berth.cli.main import main
from berth.config.loader import load_config
from berth.engine.docker_engine import connect
from berth.lifecycle.prechecks import kvm_check
from berth.lifecycle.render import image_ref, resolved_virt_type
from berth.lifecycle.virt import LIBVIRT_IMAGE, boot_test, cached_decision, kvm_openable

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    client = connect()
    root = tmp_path_factory.mktemp("virt")
    (root / "globals.yml").write_text(f"deployment_name: berthvirt\nstate_dir: {root / 'state'}\n"
                                      "enable_nova: true\nenable_placement: true\nenable_glance: true\n")
    assert main(["--quiet", "--config-dir", str(root), "genpwd"]) == 0
    config = load_config(root)
    ref = image_ref(config, LIBVIRT_IMAGE)
    if client.image(ref) is None:
        assert main(["--quiet", "--config-dir", str(root), "build", LIBVIRT_IMAGE]) == 0
    return {"client": client, "root": root, "ref": ref}


def test_the_harness_sees_a_software_emulated_boot(env):
    """Control: without this, a broken harness would always conclude 'qemu'."""
    decision = boot_test(env["client"], env["ref"], accel="tcg", timeout=60)
    assert "booted with tcg" in decision.reason, decision.reason


def test_auto_decides_by_booting_and_caches_per_host_boot(env):
    config = load_config(env["root"])
    check = kvm_check(config, env["client"])
    assert check.ok and "auto ->" in check.message, check
    decision = cached_decision(config)
    assert decision is not None and decision.virt_type in ("kvm", "qemu")
    if kvm_openable():
        assert decision.virt_type == "qemu" and "not usable" in decision.reason
    assert resolved_virt_type(config) == decision.virt_type
    again = kvm_check(config, env["client"])  # cached: no second boot
    assert again.message == check.message


def test_forced_kvm_fails_prechecks_when_no_guest_boots_with_it(env):
    (env["root"] / "globals.yml").write_text((env["root"] / "globals.yml").read_text()
                                             + "nova_compute_virt_type: kvm\n")
    config = load_config(env["root"])
    check = kvm_check(config, env["client"])
    if cached_decision(config).virt_type == "kvm":
        assert check.ok
    else:
        assert not check.ok and "nova_compute_virt_type: qemu" in check.fix
