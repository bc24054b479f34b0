"""A RabbitMQ cluster over three `berth lab` hosts, for real: formed by one deploy, a quorum queue that survives
the loss of its leader's host, and the lost node back in the cluster after `lab up` and a deploy.

Three lab hosts (own name, network and registry port, so no other lab or registry is touched), all in `control`,
running only RabbitMQ. The first host forms the cluster in deploy wave 1, the two others join it in wave 2.
A message goes through a real AMQP client (pika) to a quorum queue declared through the second node; the host of
the queue's leader is killed (`berth lab kill`: every process of the host at once, its link down) and the
message is read from a surviving node. Lab hosts share the machine's kernel and CPUs: times are those of one
machine playing three hosts.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from berth.cli.main import main
from berth.engine import connect
from berth.images import registry
from berth.remote.lab import load_lab
from berth.remote.labplan import Lab, LabHost
from berth.services.registry import enable_key, service_names
from tests.integration.test_multihost import UNDER_TEST, deploy, statuses
from tests.labs import docker_on, running_on
from tests.sandbox import TAG, wait_for

pika = pytest.importorskip("pika")
pytest.importorskip("ansible_runner")
pytestmark = [pytest.mark.integration, pytest.mark.extended, pytest.mark.timeout(1200)]

NAME = "hrmq"
CIDR = "198.51.100.64/26"
PORT = 4070  # not berth's default 4000 nor another test's registry port
REGISTRY = "berth_registry_hrmq"
IMAGES = ("base", "rabbitmq", "registry")
CONTAINER = f"{NAME}-rabbitmq"
QUEUE = "hrmq-quorum-probe"


def node(host: LabHost) -> str:
    """The node name berth gives the broker on a host of a cluster (a long name with the host's address)."""
    return f"rabbit-{NAME}@{host.address}"


def write_config(root: Path, lab: Lab) -> Path:
    config_dir = root / "etc"
    config_dir.mkdir()
    values = {"deployment_name": NAME, "docker_registry": lab.registry, "registry_port": PORT,
              **{enable_key(n): n == "rabbitmq" for n in service_names()}}
    (config_dir / "globals.yml").write_text(yaml.safe_dump(values, sort_keys=False))
    assert main(["--quiet", "--config-dir", str(config_dir), "genpwd"]) == 0
    text = re.sub(r"^berth_command=.*$", f"berth_command={shlex.quote(UNDER_TEST)}", lab.inventory.read_text(),
                  flags=re.MULTILINE)
    (root / "inventory").write_text(text)
    return config_dir


def lab_up() -> None:
    assert main(["lab", "up", "--hosts", "3", "--controllers", "3", "--name", NAME, "--cidr", CIDR,
                 "--registry-port", str(PORT)]) == 0


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    main(["lab", "down", "--name", NAME])
    lab_up()
    lab = load_lab(NAME)
    assert [h.groups[0] for h in lab.hosts] == ["control"] * 3
    root = tmp_path_factory.mktemp("rabbitmq-cluster")
    config_dir = write_config(root, lab)
    engine = connect()
    try:
        assert main(["--quiet", "--config-dir", str(config_dir), "build", "--logs-dir", str(root / "logs"),
                     "rabbitmq", "registry"]) == 0
        registry.start(engine, f"{lab.registry}/berth/registry:{TAG}", PORT, REGISTRY, volume=REGISTRY,
                       extra_address=str(lab.machine_address))
        registry.wait_ready(PORT)
        assert main(["--quiet", "--config-dir", str(config_dir), "push", "rabbitmq"]) == 0
        password = yaml.safe_load((config_dir / "passwords.yml").read_text())["rabbitmq_password"]
        yield {"lab": lab, "config": config_dir, "inventory": root / "inventory", "password": password}
    finally:
        main(["lab", "down", "--name", NAME])
        registry.stop(engine, PORT, REGISTRY)
        if engine.volume(REGISTRY) is not None:
            engine.remove_volume(REGISTRY, force=True)
        for image in IMAGES:  # the tags this test added to the machine's images (the images stay)
            ref = f"{lab.registry}/berth/{image}:{TAG}"
            if engine.image(ref) is not None:
                engine.remove_image(ref)


def ctl(host: LabHost, *args: str) -> str:
    """A RabbitMQ CLI command in the host's broker container (as its user: the Erlang cookie is its own)."""
    return docker_on(host, "exec", "-u", "rabbitmq", CONTAINER, *args, timeout=90)


def cluster_status(host: LabHost) -> dict[str, Any]:
    return dict(json.loads(ctl(host, "rabbitmqctl", "-q", "cluster_status", "--formatter", "json")))


def running_nodes(host: LabHost) -> set[str]:
    try:
        return set(cluster_status(host)["running_nodes"])
    except AssertionError:  # not running (yet)
        return set()


def healthy(host: LabHost) -> bool:
    return docker_on(host, "inspect", "-f", "{{.State.Health.Status}}", CONTAINER).strip() == "healthy"


def quorum_members(host: LabHost) -> dict[str, Any]:
    """The probe queue as a node sees it: its leader and members."""
    rows = json.loads(ctl(host, "rabbitmqctl", "-q", "list_queues", "name", "type", "leader", "members",
                          "online", "--formatter", "json"))
    return next(r for r in rows if r["name"] == QUEUE)


def channel(env: dict[str, Any], host: LabHost) -> Any:
    params = pika.ConnectionParameters(str(host.address), 5672, "/",
                                       pika.PlainCredentials("openstack", env["password"]),
                                       connection_attempts=1, socket_timeout=10, blocked_connection_timeout=30)
    return pika.BlockingConnection(params).channel()


def test_one_deploy_forms_one_cluster_of_the_three_hosts(env: dict[str, Any]) -> None:
    hosts = env["lab"].hosts
    code, data, elapsed, stderr = deploy(env)
    print(f"first deploy of a 3-node RabbitMQ cluster: {elapsed:.1f}s; timings {data['timings']}; apply-plan on "
          f"hosts { {h['host']: h['elapsed'] for h in data['hosts']} }")
    assert code == 0, json.dumps(data["hosts"], indent=1)[-3000:] + stderr[-2000:]
    assert statuses(data) == {h.name: "deployed" for h in hosts}
    assert {h["host"]: h["wave"] for h in data["hosts"]} == {hosts[0].name: 1, hosts[1].name: 2, hosts[2].name: 2}
    everyone = {node(h) for h in hosts}
    for host in hosts:
        status = cluster_status(host)
        assert set(status["running_nodes"]) == everyone, (host.name, status)
        assert set(status["disk_nodes"]) == everyone
        # the engine's own probe (every 30 s) agrees with the one berth ran before it went on
        wait_for(f"{host.name}'s engine calling {CONTAINER} healthy", 90, functools.partial(healthy, host), 3.0)
        assert node(host) in ctl(host, "rabbitmqctl", "-q", "eval", "node().")
    # the user and vhost were made once, by the node that formed the cluster, and every node serves them
    assert [u["user"] for u in json.loads(ctl(hosts[2], "rabbitmqctl", "-q", "list_users", "--formatter", "json"))
            ] == ["openstack"]
    # every node took a replica of the queues that existed before it joined (grow-queues: a no-op on the first)
    steps = {h["host"]: json.dumps(h["results"]) for h in data["hosts"]}
    assert all("step grow-queues: done" in steps[h.name] for h in hosts), steps


def test_a_second_deploy_changes_nothing(env: dict[str, Any]) -> None:
    code, data, elapsed, stderr = deploy(env)
    print(f"no-op deploy over the 3-node cluster: {elapsed:.1f}s")
    assert code == 0, stderr[-2000:]
    assert set(statuses(data).values()) == {"unchanged"}


def test_a_quorum_queue_has_a_replica_on_every_node_and_survives_the_loss_of_its_leader(env: dict[str, Any]) -> None:
    hosts = env["lab"].hosts
    ch = channel(env, hosts[1])
    ch.queue_declare(QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
    ch.confirm_delivery()  # publish returns once a majority of the replicas has the message
    ch.basic_publish("", QUEUE, b"survives", pika.BasicProperties(delivery_mode=2), mandatory=True)
    ch.connection.close()
    queue = quorum_members(hosts[0])
    assert queue["type"] == "quorum" and set(queue["members"]) == {node(h) for h in hosts}, queue
    leader = next(h for h in hosts if node(h) == queue["leader"])
    survivor = next(h for h in hosts if h is not leader)
    assert main(["lab", "kill", "--name", NAME, leader.name]) == 0
    lost = time.monotonic()

    def read() -> bytes | None:
        try:
            conn = channel(env, survivor).connection
        except pika.exceptions.AMQPError:
            return None
        try:
            _, _, body = conn.channel().basic_get(QUEUE, auto_ack=True)
            return body
        except pika.exceptions.AMQPError:
            return None
        finally:
            if conn.is_open:
                conn.close()

    body = wait_for(f"the message from a node other than {leader.name}", 90, read, 1.0)
    print(f"{leader.name} (leader of {QUEUE}) killed: message read through {survivor.name} after "
          f"{time.monotonic() - lost:.1f}s")
    assert body == b"survives"
    queue = quorum_members(survivor)
    assert queue["leader"] != node(leader) and node(leader) not in queue["online"], queue
    env["killed"] = leader


def test_the_lost_node_rejoins_after_lab_up_and_a_deploy(env: dict[str, Any]) -> None:
    hosts = env["lab"].hosts
    killed: LabHost = env["killed"]
    started = time.monotonic()
    lab_up()
    # the host's engine starts the container again as it boots; the node rejoins its last known peers by itself
    wait_for(f"{killed.name}'s engine restarting {CONTAINER}", 60, lambda: CONTAINER in running_on(killed), 1.0)
    everyone = {node(h) for h in hosts}
    wait_for(f"{killed.name} back in the cluster", 300, lambda: running_nodes(killed) == everyone, 2.0)
    print(f"{killed.name}: from `lab up` to running in the cluster again: {time.monotonic() - started:.1f}s")
    code, data, elapsed, stderr = deploy(env)
    print(f"deploy after {killed.name} came back: {elapsed:.1f}s")
    assert code == 0, json.dumps(data["hosts"], indent=1)[-3000:] + stderr[-2000:]
    assert set(statuses(data).values()) <= {"unchanged", "deployed"}
    for host in hosts:
        assert running_nodes(host) == everyone
    queue = quorum_members(killed)
    assert set(queue["online"]) == everyone, queue  # its replica of the queue caught up and serves again
