"""The host-wide cache of the KVM boot test: this boot and this nova-libvirt image only. Pure file logic."""

from __future__ import annotations

from berth.lifecycle.virt import VirtDecision, host_boot_id, host_decision, save_host_decision


def test_host_decision_is_reused_for_the_same_boot_and_image(tmp_path):
    cache = tmp_path / "virt.json"
    decision = VirtDecision("qemu", "did not boot with kvm within 15s", host_boot_id(), 15.2)
    assert host_decision("sha256:a", cache) is None
    save_host_decision(decision, "sha256:a", cache)
    assert host_decision("sha256:a", cache) == decision
    assert host_decision("sha256:b", cache) is None  # another nova-libvirt image: test again


def test_a_decision_from_an_earlier_boot_or_a_broken_file_is_ignored(tmp_path):
    cache = tmp_path / "virt.json"
    save_host_decision(VirtDecision("kvm", "booted", "another-boot"), "sha256:a", cache)
    assert host_decision("sha256:a", cache) is None
    cache.write_text("{not json")
    assert host_decision("sha256:a", cache) is None
