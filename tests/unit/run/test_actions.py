"""Pure parts of the engine actions and the Docker engine's translation of a spec into create arguments."""

from __future__ import annotations

import stat

from berth.engine.docker_spec import create_args, create_kwargs
from berth.run.actions import container_labels, write_config_dir
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
    kwargs = create_kwargs(want.name, want.spec, {})
    assert kwargs["cap_add"] == ["NET_ADMIN"] and kwargs["ipc_mode"] == "host" and kwargs["init"] is True
    assert "pid_mode" not in kwargs and "devices" not in kwargs and "command" not in kwargs
    assert kwargs["log_config"]["type"] == "json-file" and kwargs["volumes"] == {"/c": {"bind": "/c", "mode": "ro"}}
    assert kwargs["healthcheck"]["interval"] == 30_000_000_000
    assert kwargs["restart_policy"] == {"Name": "unless-stopped"}
    labels = container_labels("berth", want)
    assert labels["berth.config-hash"] == want.config_hash and labels["berth.role"] == "service"


def test_propagation_binds_declare_no_anonymous_volume():
    spec = {**SPEC, "volumes": ["/run/netns:/run/netns:rshared", "berth_state:/var/lib/x", "/c:/c:ro"]}
    args = create_args(create_kwargs("x", spec, {}), "1.41")
    assert sorted(args["volumes"]) == ["/c", "/run/netns", "/var/lib/x"]  # the SDK's container-side paths
    assert sorted(args["host_config"]["Binds"]) == ["/c:/c:ro", "/run/netns:/run/netns:rshared",
                                                    "berth_state:/var/lib/x:rw"]


def test_one_source_mounted_twice_is_refused():
    import pytest

    from berth.errors import DeployError

    spec = {**SPEC, "volumes": ["/c:/a", "/c:/b"]}
    with pytest.raises(DeployError, match="mounted twice"):
        create_kwargs("x", spec, {})


def test_systempaths_unconfined_empties_masked_and_readonly_paths():
    spec = {**SPEC, "security_opt": ["systempaths=unconfined", "apparmor=unconfined"]}
    host = create_args(create_kwargs("x", spec, {}), "1.41")["host_config"]
    assert host["MaskedPaths"] == [] and host["ReadonlyPaths"] == []
    assert host["SecurityOpt"] == ["apparmor=unconfined"]
    plain = create_args(create_kwargs("x", SPEC, {}), "1.41")["host_config"]
    assert "MaskedPaths" not in plain and "ReadonlyPaths" not in plain


def test_registry_style_spec_has_command_user_and_ports():
    spec = {"image": "r:zed", "command": ["serve"], "user": "reg", "ports": {"5000/tcp": ["127.0.0.1", 4000]},
            "restart": "unless-stopped", "volumes": ["reg:/var/lib/reg:rw"]}
    args = create_args(create_kwargs("reg", spec, {"berth.managed": "true"}), "1.41")
    assert args["command"] == ["serve"] and args["user"] == "reg" and args["labels"] == {"berth.managed": "true"}
    assert args["host_config"]["PortBindings"] == {"5000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "4000"}]}
    assert args["host_config"]["RestartPolicy"] == {"Name": "unless-stopped"}
