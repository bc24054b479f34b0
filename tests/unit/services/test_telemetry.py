"""Telemetry renders for the all-in-one (Epoxy and Zed) and for a lab inventory (one controller, two computes):
Gnocchi (API, metricd, file storage in a volume), Ceilometer (notification and central agents on the control
host, the compute agent on every compute next to nova_libvirt's socket) publishing to Gnocchi, Aodh's four
services; their bootstrap steps, Keystone registration (`metric`, `alarming`), health checks; Nova and the other
services send notifications only while Ceilometer is enabled; off by default.

Pure: no engine, TEST-NET addresses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from berth.config.loader import Config, load_config
from berth.lifecycle.render import render_desired
from berth.state.desired import DesiredContainer, DesiredState
from tests.unit.services.rendering import container, ini
from tests.unit.threehosts import ADDRESSES, COMPUTES, CONTROLLER, make_config_dir, three_hosts

ON = "enable_gnocchi: true\nenable_ceilometer: true\nenable_aodh: true\n"
GNOCCHI = ("gnocchi_api", "gnocchi_metricd")
CEILOMETER = ("ceilometer_notification", "ceilometer_central", "ceilometer_compute")
AODH = ("aodh_api", "aodh_evaluator", "aodh_notifier", "aodh_listener")
CONTROL = ADDRESSES[CONTROLLER]


def aio_config(root: Path, extra: str = ON) -> Config:
    (root / "globals.yml").write_text(f"deployment_name: unit\nstate_dir: {root}/state\nlog_dir: {root}/log\n{extra}")
    from berth.cli.main import main

    assert main(["--quiet", "--config-dir", str(root), "genpwd"]) == 0
    return load_config(root)


@pytest.fixture(scope="module")
def aio(tmp_path_factory: pytest.TempPathFactory) -> DesiredState:
    extra = ON + "ceilometer_polling_interval: 30\nceilometer_archive_policy: ceilometer-high\n"
    return render_desired(aio_config(tmp_path_factory.mktemp("tel-aio"), extra), {}, pins={})


@pytest.fixture(scope="module")
def zed(tmp_path_factory: pytest.TempPathFactory) -> DesiredState:
    return render_desired(aio_config(tmp_path_factory.mktemp("tel-zed"), ON + "openstack_release: zed\n"), {},
                          pins={})


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DesiredState]:
    config = three_hosts(make_config_dir(tmp_path_factory.mktemp("tel-lab"), ON))
    return {host: render_desired(config, {}, host, pins={}) for host in ADDRESSES}



def command(item: DesiredContainer) -> list[str]:
    return list(json.loads(item.files["config.json"])["command"])


def test_off_by_default_and_nothing_sends_notifications(tmp_path: Path) -> None:
    desired = render_desired(aio_config(tmp_path, extra=""), {}, pins={})
    for service in ("gnocchi", "ceilometer", "aodh"):
        assert not desired.containers_of(service) and not desired.steps_of(service)
    nova = ini(container(desired, "nova_compute").files["nova.conf"])
    assert nova["oslo_messaging_notifications"]["driver"] == "noop" and not nova.has_section("notifications")


@pytest.mark.parametrize("release", ["epoxy", "zed"])
def test_all_in_one_runs_every_service_in_its_own_container(release: str, aio: DesiredState,
                                                            zed: DesiredState) -> None:
    state = aio if release == "epoxy" else zed
    assert [c.key for c in state.containers_of("gnocchi")] == list(GNOCCHI)
    assert [c.key for c in state.containers_of("ceilometer")] == list(CEILOMETER)
    assert [c.key for c in state.containers_of("aodh")] == list(AODH)
    for key in (*GNOCCHI, *CEILOMETER, *AODH):
        item = container(state, key)
        assert item.image == f"berth/{key.replace('_', '-')}:{release}"
        user = "nova" if key == "ceilometer_compute" else key.split("_")[0]  # a user nova_libvirt's libvirt knows
        assert json.loads(item.files["config.json"])["user"] == user  # no root, no privileges
        assert not item.spec["privileged"] and not item.spec["cap_add"]
    units = {u.name: set(u.depends_on) for u in state.services}
    assert units["gnocchi"] == {"mariadb", "memcached", "keystone"}
    assert units["ceilometer"] == {"rabbitmq", "keystone", "gnocchi", "nova"}
    assert units["aodh"] == {"mariadb", "rabbitmq", "memcached", "keystone", "gnocchi"}


def test_steps_bootstrap_each_service(aio: DesiredState) -> None:
    steps = {(s.service, s.name): s for s in aio.steps}
    assert [(s.name, s.kind, s.phase) for s in aio.steps_of("gnocchi")] == [
        ("database-gnocchi", "database", "before"), ("upgrade", "oneshot", "before"),
        ("keystone-register", "register", "before")]
    # ceilometer-upgrade talks to Gnocchi as `ceilometer`: after registration (phase after)
    assert [(s.name, s.kind, s.phase) for s in aio.steps_of("ceilometer")] == [
        ("upgrade", "oneshot", "after"), ("keystone-register", "register", "before")]
    assert [(s.name, s.kind, s.phase) for s in aio.steps_of("aodh")] == [
        ("database-aodh", "database", "before"), ("db-sync", "oneshot", "before"),
        ("keystone-register", "register", "before")]
    expected = {("gnocchi", "upgrade"): ["gnocchi-upgrade", "--config-file", "/etc/gnocchi/gnocchi.conf"],
                ("ceilometer", "upgrade"): ["ceilometer-upgrade", "--config-file", "/etc/ceilometer/ceilometer.conf"],
                ("aodh", "db-sync"): ["aodh-dbsync", "--config-file", "/etc/aodh/aodh.conf"]}
    for key, argv in expected.items():
        step = steps[key]
        assert step.container is not None and command(step.container) == argv
    assert steps[("gnocchi", "upgrade")].stamp_volumes == ("unit_mariadb", "unit_gnocchi")


def test_keystone_registers_metric_and_alarming(aio: DesiredState) -> None:
    steps = {s.service: s.payload for s in aio.steps if s.kind == "register"}
    assert [(s["name"], s["type"]) for s in steps["gnocchi"]["services"]] == [("gnocchi", "metric")]
    assert steps["gnocchi"]["endpoints"][0]["urls"] == {"public": "http://127.0.0.1:8041",
                                                        "internal": "http://127.0.0.1:8041"}
    assert [(s["name"], s["type"]) for s in steps["aodh"]["services"]] == [("aodh", "alarming")]
    assert steps["aodh"]["endpoints"][0]["urls"]["internal"] == "http://127.0.0.1:8042"
    assert not steps["ceilometer"]["services"] and [u["name"] for u in steps["ceilometer"]["users"]] == ["ceilometer"]


def test_health_checks(aio: DesiredState) -> None:
    assert container(aio, "gnocchi_api").health == ("http", "http://127.0.0.1:8041/")
    assert container(aio, "aodh_api").health == ("http", "http://127.0.0.1:8042/")
    assert container(aio, "gnocchi_metricd").health == ("cmd", "--", "berth-proc-health", "gnocchi-metricd")
    assert container(aio, "aodh_evaluator").health == ("cmd", "--", "berth-proc-health", "aodh-evaluator")
    for key in ("ceilometer_central", "ceilometer_compute"):
        assert container(aio, key).health == ("cmd", "--", "berth-proc-health", "ceilometer-polling")
    assert container(aio, "ceilometer_notification").health == (
        "cmd", "--", "berth-rpc-health", "ceilometer-agent-notification")
    for key in ("aodh_notifier", "aodh_listener"):
        assert container(aio, key).health == ("cmd", "--", "berth-rpc-health", key.replace("_", "-"))


def test_gnocchi_keeps_its_measures_in_a_volume_both_containers_mount(aio: DesiredState) -> None:
    for key in GNOCCHI:
        item = container(aio, key)
        assert "unit_gnocchi:/var/lib/gnocchi" in item.spec["volumes"]
        conf = ini(item.files["gnocchi.conf"])
        assert (conf["storage"]["driver"], conf["storage"]["file_basepath"]) == ("file", "/var/lib/gnocchi")
        assert conf["indexer"]["url"].startswith("mysql+pymysql://gnocchi:")
        assert conf["indexer"]["url"].endswith("@127.0.0.1:3306/gnocchi")
        assert conf["api"]["auth_mode"] == "keystone" and conf["keystone_authtoken"]["username"] == "gnocchi"
        assert conf["metricd"]["metric_processing_delay"] == "60"
    uwsgi = container(aio, "gnocchi_api").files["gnocchi-api-uwsgi.ini"]
    assert "http-socket = 127.0.0.1:8041" in uwsgi and "wsgi-file = /usr/lib/python3/dist-packages/gnocchi/rest/" \
        "wsgi.py" in uwsgi


def test_ceilometer_polls_at_the_chosen_interval_and_publishes_to_gnocchi(aio: DesiredState) -> None:
    polling = yaml.safe_load(container(aio, "ceilometer_compute").files["polling.yaml"])
    assert polling["sources"][0]["interval"] == 30 and "cpu" in polling["sources"][0]["meters"]
    pipeline = yaml.safe_load(container(aio, "ceilometer_notification").files["pipeline.yaml"])
    assert pipeline["sinks"][0]["publishers"] == ["gnocchi://?filter_project=service&archive_policy=ceilometer-high"]
    assert command(container(aio, "ceilometer_compute"))[:3] == ["ceilometer-polling", "--polling-namespaces",
                                                                 "compute"]
    assert command(container(aio, "ceilometer_central"))[:3] == ["ceilometer-polling", "--polling-namespaces",
                                                                 "central"]
    compute = container(aio, "ceilometer_compute")
    assert "unit_libvirt_run:/run/libvirt:ro" in compute.spec["volumes"]
    conf = ini(compute.files["ceilometer.conf"])
    assert (conf["DEFAULT"]["hypervisor_inspector"], conf["DEFAULT"]["libvirt_type"]) == ("libvirt", "qemu")
    assert conf["service_credentials"]["username"] == "ceilometer"
    assert conf["service_credentials"]["interface"] == "internalURL"
    notification = ini(container(aio, "ceilometer_notification").files["ceilometer.conf"])
    assert not notification.has_option("DEFAULT", "hypervisor_inspector")


def test_default_archive_policy_is_ceilometers_own(zed: DesiredState) -> None:
    pipeline = yaml.safe_load(container(zed, "ceilometer_notification").files["pipeline.yaml"])
    assert pipeline["sinks"][0]["publishers"] == ["gnocchi://?filter_project=service"]


def test_every_service_sends_notifications_with_ceilometer(aio: DesiredState) -> None:
    nova = ini(container(aio, "nova_compute").files["nova.conf"])
    section = nova["oslo_messaging_notifications"]
    assert (section["driver"], section["topics"]) == ("messagingv2", "notifications")
    assert nova["notifications"]["notify_on_state_change"] == "vm_and_task_state"
    neutron = ini(container(aio, "neutron_server").files["neutron.conf"])
    assert neutron["oslo_messaging_notifications"]["driver"] == "messagingv2"


def test_aodh_evaluates_against_gnocchi_as_its_service_user(aio: DesiredState) -> None:
    conf = ini(container(aio, "aodh_evaluator").files["aodh.conf"])
    assert conf["DEFAULT"]["evaluation_interval"] == "60"
    assert conf["database"]["connection"].endswith("@127.0.0.1:3306/aodh")
    assert conf["service_credentials"]["username"] == "aodh"
    uwsgi = container(aio, "aodh_api").files["aodh-api-uwsgi.ini"]
    assert "wsgi-file = /usr/bin/aodh-api" in uwsgi and "http-socket = 127.0.0.1:8042" in uwsgi


def test_lab_runs_the_compute_agent_on_every_compute_and_the_rest_on_the_controller(
        lab: dict[str, DesiredState]) -> None:
    control = lab[CONTROLLER]
    assert {c.key for c in control.containers if c.service in ("gnocchi", "ceilometer", "aodh")} == {
        *GNOCCHI, "ceilometer_notification", "ceilometer_central", *AODH}
    for compute in COMPUTES:
        state = lab[compute]
        assert [c.key for c in state.containers if c.service in ("gnocchi", "ceilometer", "aodh")] == [
            "ceilometer_compute"]
        assert not state.steps
        conf = ini(container(state, "ceilometer_compute").files["ceilometer.conf"])
        assert conf["DEFAULT"]["host"] == compute  # the host name nova-compute reports
        assert conf["DEFAULT"]["transport_url"].endswith(f"@{CONTROL}:5672//")
        assert conf["service_credentials"]["auth_url"] == f"http://{CONTROL}:5000/v3"
    gnocchi = ini(container(control, "gnocchi_api").files["gnocchi.conf"])
    assert gnocchi["indexer"]["url"].endswith(f"@{CONTROL}:3306/gnocchi")
    assert {s.id for s in control.steps if s.service in ("gnocchi", "ceilometer", "aodh")} >= {
        "gnocchi/upgrade", "ceilometer/upgrade", "aodh/db-sync"}


def test_secrets_stay_in_config_files(aio: DesiredState) -> None:
    for item in (*aio.containers_of("gnocchi"), *aio.containers_of("ceilometer"), *aio.containers_of("aodh")):
        assert not any(secret in json.dumps(item.spec) for secret in aio.secrets), item.key
        for name in ("gnocchi.conf", "ceilometer.conf", "aodh.conf"):
            if name in item.files:
                assert json.loads(item.files["config.json"])["files"]
                mode = {f["source"]: f["mode"] for f in json.loads(item.files["config.json"])["files"]}[name]
                assert mode == "0640"
