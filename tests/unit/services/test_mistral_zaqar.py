"""Mistral, Zaqar and Redis render for the all-in-one and for a lab inventory (two controllers): Mistral's four
services each in its own container, Zaqar's API with MariaDB for its management store and Redis for messages,
Redis on the host's own address with its password in its 0600 configuration only and its data on a volume; the
catalog's `workflowv2` and `messaging` services; db-sync steps once per deployment; off by default; Zed too.

Pure: no engine, TEST-NET addresses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from berth.config.loader import Config, load_config
from berth.errors import ConfigError
from berth.images.recipes import discover, users_for
from berth.lifecycle.render import Renderer, render_desired
from berth.state.desired import DesiredState
from tests.unit.services import rendering
from tests.unit.services.rendering import container, files_json, ini

LAB = rendering.TWO_CONTROLLERS
CONTROL = ("control01", "control02")
ADDRESSES = {"control01": "198.51.100.11", "control02": "198.51.100.12"}
MISTRAL = ("mistral_api", "mistral_engine", "mistral_executor", "mistral_event_engine")
ON = "enable_mistral: true\nenable_zaqar: true\nenable_redis: true\n"


def config_dir(root: Path, extra: str = ON, inventory: bool = False) -> Path:
    return rendering.config_dir(root, extra, LAB if inventory else "")


@pytest.fixture(scope="module")
def aio_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return load_config(config_dir(tmp_path_factory.mktemp("wf-aio")))


@pytest.fixture(scope="module")
def aio(aio_config: Config) -> DesiredState:
    return render_desired(aio_config, {}, pins={})


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DesiredState]:
    root = config_dir(tmp_path_factory.mktemp("wf-lab"), inventory=True)
    config = load_config(root, inventory_path=root / "multinode")
    return {host: render_desired(config, {}, host, pins={}) for host in (*CONTROL, "compute01")}





def redis_conf(state: DesiredState) -> dict[str, list[str]]:
    """redis.conf as directive -> arguments of its last line (`save` keeps every line)."""
    found: dict[str, list[str]] = {}
    for line in container(state, "redis").files["redis.conf"].splitlines():
        if line.strip() and not line.startswith("#"):
            word, *args = line.split()
            found[word] = [*found.get(word, []), *args] if word == "save" else args
    return found


def test_off_by_default(tmp_path: Path) -> None:
    desired = render_desired(load_config(config_dir(tmp_path, extra="")), {}, pins={})
    for service in ("mistral", "zaqar", "redis"):
        assert not desired.containers_of(service) and not desired.steps_of(service), service


def test_zaqar_without_redis_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config_dir(tmp_path, extra="enable_zaqar: true\n"))
    assert any("enable_redis" in problem for problem in info.value.details), info.value.details


def test_mistral_runs_each_service_in_its_own_container(aio: DesiredState) -> None:
    assert [c.key for c in aio.containers_of("mistral")] == list(MISTRAL)
    assert {c.image for c in aio.containers_of("mistral")} == {
        "berth/mistral-api:epoxy", "berth/mistral-engine:epoxy", "berth/mistral-executor:epoxy",
        "berth/mistral-event-engine:epoxy"}
    for item in aio.containers_of("mistral"):
        assert item.spec["network_mode"] == "host" and not item.spec["privileged"] and not item.spec["cap_add"]
        assert json.loads(item.files["config.json"])["user"] == "mistral"
    assert container(aio, "mistral_api").health == ("http", "http://127.0.0.1:8989/")
    for key, server in (("mistral_engine", "engine"), ("mistral_executor", "executor"),
                        ("mistral_event_engine", "event-engine")):
        item = container(aio, key)
        assert json.loads(item.files["config.json"])["command"] == [
            "mistral-server", "--server", server, "--config-file", "/etc/mistral/mistral.conf"]
        assert item.health == ("cmd", "--", "berth-rpc-health", f"--server {server}")
    uwsgi = container(aio, "mistral_api").files["mistral-api-uwsgi.ini"]
    assert "wsgi-file = /usr/bin/mistral-wsgi-api" in uwsgi and "http-socket = 127.0.0.1:8989" in uwsgi


def test_mistral_steps_sync_then_populate_then_register(aio: DesiredState) -> None:
    steps = aio.steps_of("mistral")
    assert [(s.name, s.kind, s.phase) for s in steps] == [
        ("database-mistral", "database", "before"), ("db-sync", "oneshot", "before"),
        ("populate", "oneshot", "before"), ("keystone-register", "register", "before")]
    commands = {s.name: json.loads(s.container.files["config.json"])["command"] for s in steps if s.container}
    assert commands == {
        "db-sync": ["mistral-db-manage", "--config-file", "/etc/mistral/mistral.conf", "upgrade", "head"],
        "populate": ["mistral-db-manage", "--config-file", "/etc/mistral/mistral.conf", "populate"]}


def test_mistral_conf(aio: DesiredState, aio_config: Config) -> None:
    conf = ini(container(aio, "mistral_engine").files["mistral.conf"])
    password = aio_config.passwords["mistral_database_password"]
    assert conf["database"]["connection"] == f"mysql+pymysql://mistral:{password}@127.0.0.1:3306/mistral"
    assert conf["DEFAULT"]["transport_url"].startswith("rabbit://openstack:")
    assert conf["keystone_authtoken"]["username"] == "mistral"
    assert (conf["api"]["host"], conf["api"]["port"]) == ("127.0.0.1", "8989")
    assert conf["pecan"]["auth_enable"] == "true"  # the caller's token in the execution's context
    assert conf["executor"]["type"] == "remote"  # the executor's own container, over RabbitMQ
    assert conf["oslo_messaging_notifications"]["driver"] == "noop"


def test_zaqar_keeps_queues_in_mariadb_and_messages_in_redis(aio: DesiredState, aio_config: Config) -> None:
    server = container(aio, "zaqar_server")
    assert server.image == "berth/zaqar-server:epoxy" and server.health == ("http", "http://127.0.0.1:8888/")
    assert json.loads(server.files["config.json"])["user"] == "zaqar"
    conf = ini(server.files["zaqar.conf"])
    drivers = conf["drivers"]
    assert (drivers["transport"], drivers["management_store"], drivers["message_store"]) == (
        "wsgi", "sqlalchemy", "redis")
    password = aio_config.passwords["zaqar_database_password"]
    assert conf["drivers:management_store:sqlalchemy"]["uri"] == (
        f"mysql+pymysql://zaqar:{password}@127.0.0.1:3306/zaqar")
    redis_password = aio_config.passwords["redis_password"]
    assert conf["drivers:message_store:redis"]["uri"] == f"redis://:{redis_password}@127.0.0.1:6379?dbid=0"
    assert (conf["drivers:transport:wsgi"]["bind"], conf["drivers:transport:wsgi"]["port"]) == ("127.0.0.1", "8888")
    assert conf["DEFAULT"]["auth_strategy"] == "keystone" and conf["DEFAULT"]["pooling"] == "false"
    assert files_json(server)["/etc/zaqar/zaqar.conf"]["mode"] == "0640"
    uwsgi = server.files["zaqar-uwsgi.ini"]
    assert "wsgi-file = /usr/lib/python3/dist-packages/zaqar/transport/wsgi/app.py" in uwsgi
    unit = next(u for u in aio.services if u.name == "zaqar")
    assert set(unit.depends_on) == {"mariadb", "memcached", "keystone", "redis"}
    assert [(s.name, s.kind) for s in aio.steps_of("zaqar")] == [
        ("database-zaqar", "database"), ("db-sync", "oneshot"), ("keystone-register", "register")]


def test_redis_binds_the_hosts_address_with_a_password_and_a_volume(aio: DesiredState, aio_config: Config) -> None:
    redis = container(aio, "redis")
    conf = redis_conf(aio)
    password = aio_config.passwords["redis_password"]
    assert conf["bind"] == ["127.0.0.1"] and conf["port"] == ["6379"] and conf["protected-mode"] == ["yes"]
    assert conf["requirepass"] == [f'"{password}"']
    assert conf["appendonly"] == ["yes"] and conf["dir"] == ["/var/lib/redis"] and conf["daemonize"] == ["no"]
    assert conf["maxmemory"] == ["256mb"] and conf["maxmemory-policy"] == ["noeviction"]
    assert "unit_redis:/var/lib/redis" in redis.spec["volumes"]
    assert files_json(redis)["/etc/redis/redis.conf"] == {
        "source": "redis.conf", "dest": "/etc/redis/redis.conf", "owner": "redis", "mode": "0600"}
    assert json.loads(redis.files["config.json"])["command"] == ["redis-server", "/etc/redis/redis.conf"]
    assert redis.health == ("cmd", "--", "berth-redis-health")
    assert password in aio.secrets
    # the password is in redis.conf and in the zaqar.conf of Zaqar only: no health check, command or environment
    assert password not in redis.files["berth-redis-health.sh"] and password not in json.dumps(redis.spec)
    holders = {(c.key, name) for c in aio.containers for name, text in c.files.items() if password in text}
    assert holders == {("redis", "redis.conf"), ("zaqar_server", "zaqar.conf")}


def test_the_catalog_has_workflowv2_and_messaging(aio: DesiredState) -> None:
    for service, kind, url in (("mistral", "workflowv2", "http://127.0.0.1:8989/v2"),
                               ("zaqar", "messaging", "http://127.0.0.1:8888")):
        step = next(s for s in aio.steps_of(service) if s.kind == "register")
        assert [(s["name"], s["type"]) for s in step.payload["services"]] == [(service, kind)]
        assert step.payload["endpoints"][0]["urls"] == {"public": url, "internal": url}
        assert [u["name"] for u in step.payload["users"]] == [service]


def test_lab_runs_everything_on_each_controller_with_its_own_address(lab: dict[str, DesiredState]) -> None:
    for host in CONTROL:
        state, address = lab[host], ADDRESSES[host]
        assert [c.key for c in state.containers_of("mistral")] == list(MISTRAL)
        assert [c.key for c in state.containers_of("zaqar")] == ["zaqar_server"]
        assert [c.key for c in state.containers_of("redis")] == ["redis"]
        assert redis_conf(state)["bind"] == [address]
        assert ini(container(state, "mistral_api").files["mistral.conf"])["api"]["host"] == address
        zaqar = ini(container(state, "zaqar_server").files["zaqar.conf"])
        assert zaqar["drivers:transport:wsgi"]["bind"] == address
        # one Redis for every Zaqar: the first redis host's (no replication)
        assert zaqar["drivers:message_store:redis"]["uri"].endswith("@198.51.100.11:6379?dbid=0")
        assert zaqar["drivers:management_store:sqlalchemy"]["uri"].endswith("@198.51.100.11:3306/zaqar")
    assert not any(lab["compute01"].containers_of(s) for s in ("mistral", "zaqar", "redis"))
    for service, names in (("mistral", ["database-mistral", "db-sync", "populate", "keystone-register"]),
                           ("zaqar", ["database-zaqar", "db-sync", "keystone-register"])):
        assert [s.name for s in lab["control01"].steps_of(service)] == names
        assert not lab["control02"].steps_of(service)


def test_the_apis_are_behind_the_vip_with_haproxy(tmp_path: Path) -> None:
    extra = ON + "internal_vip_address: 198.51.100.100\nenable_haproxy: true\nenable_keepalived: true\n"
    root = config_dir(tmp_path, extra=extra, inventory=True)
    state = Renderer(load_config(root, inventory_path=root / "multinode"), {}, "control01").render()
    cfg = container(state, "haproxy").files["haproxy.cfg"]
    assert "listen mistral_api" in cfg and "bind 198.51.100.100:8989" in cfg
    assert "listen zaqar_api" in cfg and "bind 198.51.100.100:8888" in cfg
    assert "listen redis" not in cfg  # Redis is reached on its host, not through the VIP
    zaqar = ini(container(state, "zaqar_server").files["zaqar.conf"])
    assert zaqar["drivers:message_store:redis"]["uri"].endswith("@198.51.100.11:6379?dbid=0")
    step = next(s for s in state.steps_of("mistral") if s.kind == "register")
    assert step.payload["endpoints"][0]["urls"]["internal"] == "http://198.51.100.100:8989/v2"


def test_zed_renders_the_same_services(tmp_path: Path) -> None:
    state = render_desired(load_config(config_dir(tmp_path, extra=ON + "openstack_release: zed\n")), {}, pins={})
    images = {c.image for c in (*state.containers_of("mistral"), *state.containers_of("zaqar"),
                                *state.containers_of("redis"))}
    assert images == {"berth/mistral-api:zed", "berth/mistral-engine:zed", "berth/mistral-executor:zed",
                      "berth/mistral-event-engine:zed", "berth/zaqar-server:zed", "berth/redis:zed"}


def test_redis_memory_is_an_option(tmp_path: Path) -> None:
    state = render_desired(load_config(config_dir(tmp_path, extra=ON + "redis_maxmemory_mb: 64\n")), {}, pins={})
    assert redis_conf(state)["maxmemory"] == ["64mb"]


def test_each_service_gets_its_own_fixed_user() -> None:
    recipes = discover()
    assert users_for(recipes["mistral-base"]) == {"mistral": 451}
    assert users_for(recipes["zaqar-server"]) == {"zaqar": 452}
    assert users_for(recipes["redis"]) == {"redis": 453}
    assert users_for(recipes["mistral-api"]) == {}
    assert not {"mistral", "zaqar", "redis"} & set(users_for(recipes["openstack-base"]))
