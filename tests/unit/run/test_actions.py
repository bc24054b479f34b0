"""Pure parts of the engine actions: the config directory on disk and create arguments from a spec."""

from __future__ import annotations

import stat

from berth.run.actions import container_labels, create_kwargs, write_config_dir
from berth.state.desired import DesiredContainer

SPEC = {"image": "berth/x:zed", "network_mode": "host", "environment": {"A": "1"}, "volumes": ["/c:/c:ro"],
        "cap_add": ["NET_ADMIN"], "privileged": False, "pid_mode": None, "ipc_mode": "host", "devices": [],
        "security_opt": [], "init": True, "restart": "unless-stopped", "stop_timeout": 10,
        "healthcheck": {"test": ["CMD", "berth-health", "tcp", "127.0.0.1", "1"], "interval": 30.0, "timeout": 10,
                        "retries": 3, "start_period": 5.0}}


def test_config_dir_is_private_and_exact(tmp_path):
    target = tmp_path / "cfg"
    write_config_dir(target, {"a.conf": "1", "b.conf": "2"})
    write_config_dir(target, {"a.conf": "3"})
    assert sorted(p.name for p in target.iterdir()) == ["a.conf"]
    assert (target / "a.conf").read_text() == "3"
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert stat.S_IMODE((target / "a.conf").stat().st_mode) == 0o600


def test_create_kwargs_from_spec():
    want = DesiredContainer("x", "svc", "x", "localhost", "berth/x:zed", "sha256:1", SPEC, {})
    kwargs = create_kwargs(want)
    assert kwargs["cap_add"] == ["NET_ADMIN"] and kwargs["ipc_mode"] == "host" and kwargs["init"] is True
    assert "pid_mode" not in kwargs and "devices" not in kwargs
    assert kwargs["healthcheck"]["interval"] == 30_000_000_000
    assert kwargs["restart_policy"] == {"Name": "unless-stopped"}
    labels = container_labels("berth", want)
    assert labels["berth.config-hash"] == want.config_hash and labels["berth.role"] == "service"


def test_propagation_binds_declare_no_anonymous_volume():
    from docker.models.containers import _create_container_args

    spec = {**SPEC, "volumes": ["/run/netns:/run/netns:rshared", "berth_state:/var/lib/x", "/c:/c:ro"]}
    kwargs = create_kwargs(DesiredContainer("x", "svc", "x", "localhost", "berth/x:zed", "sha256:1", spec, {}))
    args = _create_container_args(kwargs | {"version": "1.41"})
    assert sorted(args["volumes"]) == ["/c", "/run/netns", "/var/lib/x"]  # the SDK's container-side paths
    assert sorted(args["host_config"]["Binds"]) == ["/c:/c:ro", "/run/netns:/run/netns:rshared",
                                                    "berth_state:/var/lib/x:rw"]


def test_one_source_mounted_twice_is_refused():
    import pytest

    from berth.errors import DeployError

    spec = {**SPEC, "volumes": ["/c:/a", "/c:/b"]}
    with pytest.raises(DeployError, match="mounted twice"):
        create_kwargs(DesiredContainer("x", "svc", "x", "localhost", "berth/x:zed", "sha256:1", spec, {}))
