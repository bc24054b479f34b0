"""The all-in-one cloud that every module of this package shares: one deployment (`berthe2e` on 127.0.0.51) made
once by the README's main command, `scripts/aio.sh`, and removed after the package's last test (package scope:
the many-host e2e modules then run without it), also when a test fails. Its globals add to the defaults the
storage services — Ceph, Cinder, Glance on RBD and Nova's disks on RBD (every server of the package boots from
Ceph) — Designate with BIND, Telemetry (Gnocchi, Ceilometer, Aodh), Ironic, Magnum, Mistral, Zaqar and Redis, so
their checks need no deployment of their own (CI's time budget). test_then_no_secret_leaked.py runs last (module
names are in alphabetical order)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests import dns
from tests.e2e.cloud_env import AIO_ADDRESS as ADDRESS
from tests.e2e.cloud_env import CloudEnv

# What the shared cloud adds to the defaults; a small OSD file (sparse) is enough for the test guest's images
# and a few 1 GiB volumes, which are thin in Ceph
STORAGE_GLOBALS: dict[str, Any] = {"enable_ceph": True, "enable_cinder": True, "glance_backend": "rbd",
                                   "nova_backend": "rbd", "ceph_osd_size_gb": 4}
# Telemetry (test_telemetry_cloud.py): Gnocchi, Ceilometer and Aodh with short intervals, so a server's first
# measures and an alarm's change of state come within a minute or two instead of five: the guests polled every
# 30 s, measures kept at 1 s and 1 min granularity (ceilometer-high), aggregated every 10 s, alarms evaluated
# every 15 s
TELEMETRY_GLOBALS: dict[str, Any] = {"enable_gnocchi": True, "enable_ceilometer": True, "enable_aodh": True,
                                     "ceilometer_polling_interval": 30, "ceilometer_archive_policy": "ceilometer-high",
                                     "gnocchi_metric_processing_delay": 10, "aodh_evaluation_interval": 15}

# test_baremetal_cloud.py and test_mistral_zaqar_cloud.py (their own deployments' deeper checks: extended)
SERVICES_GLOBALS: dict[str, Any] = {"enable_ironic": True, "enable_magnum": True, "enable_mistral": True,
                                    "enable_zaqar": True, "enable_redis": True}


@pytest.fixture(scope="package")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("berth-e2e")
    env = CloudEnv("berthe2e", ADDRESS, "berthe2e-ext0", "8001:8100", 4451, 25751, work / "config")
    env.remove_containers()  # what an interrupted earlier run left behind
    dns_port = 53 if dns.free(ADDRESS, 53) else 10053
    env.write_globals({**STORAGE_GLOBALS, **TELEMETRY_GLOBALS, **SERVICES_GLOBALS, "ceph_data_dir": str(work / "ceph-data"),
                       "enable_designate": True, "designate_dns_port": dns_port})
    info: dict[str, Any] = {"env": env, "work": work, "dns_port": dns_port}
    try:
        # the address on lo from the start (neutron_host_setup adds it, but may come after Designate): BIND's
        # control channel accepts rndc from the host's own address only, and a connection to 127.0.0.51 leaves
        # from 127.0.0.1 unless 127.0.0.51 is on lo (seen: designate_bind9 unhealthy, "rejected command channel
        # message from 127.0.0.1"); the teardown removes it
        if not subprocess.run(["ip", "-4", "-o", "addr", "show", "to", f"{ADDRESS}/32"], capture_output=True,
                              text=True, check=False).stdout.strip():
            subprocess.run(["ip", "addr", "add", f"{ADDRESS}/32", "dev", "lo"], check=True)
        rc, seconds, out = env.aio(work / "aio.log")
        assert rc == 0, f"scripts/aio.sh failed (exit {rc}):\n{out[-6000:]}"
        info.update(seconds=seconds, output=out)
        print(f"scripts/aio.sh: {seconds:.1f}s")
        yield info
    finally:
        env.teardown(include_data=True)
