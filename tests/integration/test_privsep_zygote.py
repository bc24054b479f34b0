"""oslo.privsep daemons forked from berth-privsep-zygote, in a real openstack-base container.

A probe module defines two privsep contexts (CAP_NET_ADMIN; CAP_SYS_ADMIN+CAP_NET_ADMIN) whose entrypoints
report facts about the daemon process they run in. A client in the container calls both through oslo.privsep's
default path (`sudo privsep-helper ...`), exactly as an agent does. With `privsep_preload` the daemons must be
children of the zygote, keep only their context's capabilities, and share most of their memory with the
zygote; without it the distribution's helper must still work (the fallback).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from berth.cli.main import main
from tests.sandbox import TAG, sdk_client

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

IMAGE = f"berth/openstack-base:{TAG}"
CAP_NET_ADMIN = 1 << 12
CAP_SYS_ADMIN = 1 << 21

PROBE = '''
import os
from oslo_privsep import capabilities as caps, priv_context

net = priv_context.PrivContext("berth_probe", cfg_section="berth_probe_net", pypath=__name__ + ".net",
                               capabilities=[caps.CAP_NET_ADMIN])
admin = priv_context.PrivContext("berth_probe", cfg_section="berth_probe_admin", pypath=__name__ + ".admin",
                                 capabilities=[caps.CAP_SYS_ADMIN, caps.CAP_NET_ADMIN])


def _facts():
    status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
    rollup = {}
    for line in open("/proc/self/smaps_rollup").read().splitlines()[1:]:
        key, value = line.split(":", 1)
        rollup[key] = int(value.split()[0])
    with open("/proc/self/cmdline") as handle:
        cmdline = handle.read().replace("\\0", " ")
    return {"pid": os.getpid(), "ppid": os.getppid(), "cap_eff": int(status["CapEff"].strip(), 16),
            "cmdline": cmdline, "private_dirty_kb": rollup["Private_Dirty"],
            "shared_dirty_kb": rollup["Shared_Dirty"]}


@net.entrypoint
def net_facts():
    return _facts()


@admin.entrypoint
def admin_facts():
    return _facts()
'''

CLIENT = '''
import json, os
from oslo_config import cfg
import berth_probe
cfg.CONF(args=[], project="berth_probe")
first, second = berth_probe.net_facts(), berth_probe.admin_facts()
again = berth_probe.net_facts()
try:
    zygote = int(open("/run/berth-privsep/zygote.pid").read())
except OSError:
    zygote = None
print("RESULT " + json.dumps({"net": first, "admin": second, "again": again, "zygote": zygote}), flush=True)
'''


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """openstack-base as the recipes now say (a no-op when cached, built on a fresh machine)."""
    config = tmp_path_factory.mktemp("cfg")
    (config / "globals.yml").write_text("{}\n")
    assert main(["--quiet", "--config-dir", str(config), "build", "openstack-base"]) == 0
    return IMAGE


def run_probe(image: str, tmp_path: Path, preload: list[str]) -> dict[str, Any]:
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "berth_probe.py").write_text(PROBE)
    (tmp_path / "probe" / "client.py").write_text(CLIENT)
    config = tmp_path / "config"
    config.mkdir()
    data: dict[str, Any] = {"command": ["python3", "/opt/probe/client.py"], "user": "root"}
    if preload:
        data["privsep_preload"] = preload
    (config / "config.json").write_text(json.dumps(data))
    container = sdk_client().containers.run(
        image, detach=True, cap_add=["NET_ADMIN", "SYS_ADMIN"],
        volumes={str(config): {"bind": "/var/lib/berth/config", "mode": "ro"},
                 str(tmp_path / "probe" / "berth_probe.py"): {
                     "bind": "/usr/lib/python3/dist-packages/berth_probe.py", "mode": "ro"},
                 str(tmp_path / "probe"): {"bind": "/opt/probe", "mode": "ro"}})
    try:
        code = container.wait(timeout=120)["StatusCode"]
        logs = container.logs().decode()
    finally:
        container.remove(force=True)
    assert code == 0, logs
    lines = [line for line in logs.splitlines() if line.startswith("RESULT ")]
    assert lines, logs
    return json.loads(lines[-1].removeprefix("RESULT "))


def test_daemons_fork_from_the_zygote_with_only_their_capabilities(image: str, tmp_path: Path) -> None:
    facts = run_probe(image, tmp_path, ["berth_probe"])
    zygote = facts["zygote"]
    assert zygote is not None
    net, admin = facts["net"], facts["admin"]
    assert net["ppid"] == zygote and admin["ppid"] == zygote  # re-parented to the zygote, the subreaper
    assert net["pid"] != admin["pid"] and facts["again"]["pid"] == net["pid"]  # one daemon per context, reused
    assert "berth-privsep-zygote" in net["cmdline"]
    assert net["cap_eff"] == CAP_NET_ADMIN
    assert admin["cap_eff"] == CAP_NET_ADMIN | CAP_SYS_ADMIN
    # The point of it all: most of the daemon's memory is the zygote's, shared copy-on-write.
    assert net["shared_dirty_kb"] > 2 * net["private_dirty_kb"], net


def test_without_a_zygote_the_distribution_helper_serves(image: str, tmp_path: Path) -> None:
    facts = run_probe(image, tmp_path, [])
    assert facts["zygote"] is None
    net, admin = facts["net"], facts["admin"]
    assert "privsep-helper" in net["cmdline"] and "zygote" not in net["cmdline"]
    assert net["cap_eff"] == CAP_NET_ADMIN
    assert admin["cap_eff"] == CAP_NET_ADMIN | CAP_SYS_ADMIN
