"""A host plan read back from JSON applies exactly as the in-memory plan does (the in-memory engine)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from berth.cli.main import main
from berth.config.loader import load_config
from berth.engine import labels
from berth.engine.memory import MemoryEngine
from berth.lifecycle.deploy import converge_host, snapshot
from berth.lifecycle.render import image_ref
from berth.plan import hostplan
from berth.services.registry import enable_key, service_names

SERVICES = ("mariadb", "memcached", "rabbitmq")  # no step that needs a database or Keystone over the network
IMAGES = ("mariadb", "memcached", "rabbitmq")


def engine_with_images(config) -> MemoryEngine:  # type: ignore[no-untyped-def]
    engine = MemoryEngine()
    for image in IMAGES:
        engine.add_image(image_ref(config, image))
    return engine


def containers(engine: MemoryEngine) -> dict[str, tuple[str, str, str, str]]:
    """name -> (image, state, config hash label, role): what a host ends up with."""
    return {c.name: (c.image, c.state, c.labels.get(labels.CONFIG_HASH, ""), c.labels.get(labels.ROLE, ""))
            for c in engine.by_id.values()}


def test_a_plan_read_back_from_json_applies_like_the_one_in_memory(tmp_path: Path) -> None:
    switches = "".join(f"{enable_key(n)}: {str(n in SERVICES).lower()}\n" for n in service_names())
    (tmp_path / "globals.yml").write_text(f"deployment_name: unit\nstate_dir: {tmp_path}/state\n{switches}")
    assert main(["--quiet", "--config-dir", str(tmp_path), "genpwd"]) == 0
    config = load_config(tmp_path)
    first, second = engine_with_images(config), engine_with_images(config)
    plan = snapshot(config, first)
    shipped = hostplan.loads(plan.dumps())
    assert shipped == plan
    # the second host keeps its own files: only where they go differs, not what the plan says
    shipped = dataclasses.replace(shipped, deployment_dir=str(tmp_path / "other"))
    outcomes = [converge_host(plan, first), converge_host(shipped, second)]
    assert all(o.result.ok for o in outcomes), [o.result.outcomes for o in outcomes]
    assert containers(first) == containers(second)
    assert {state for _, state, _, role in containers(first).values() if role == "service"} == {"running"}
    # the same engine calls (independent services run in parallel, so compared as a multiset)
    assert sorted(map(repr, first.calls)) == sorted(map(repr, second.calls))
    for config_file in (tmp_path / "state" / "unit" / "config").rglob("*"):
        if config_file.is_file():
            twin = tmp_path / "other" / config_file.relative_to(tmp_path / "state" / "unit")
            assert twin.read_text() == config_file.read_text()
