"""The Docker engine's translations, without an engine: inspect/list answers into berth values, SDK errors into
BerthErrors with the engine's own explanation, and what callers do with a missing or refused object."""

from __future__ import annotations

import docker.errors
import pytest
import requests.exceptions

from berth.engine.docker_engine import (
    BOOTSTRAP_HINT,
    _image,
    container_from_inspect,
    container_from_row,
    engine_errors,
)
from berth.engine.memory import MemoryEngine
from berth.errors import EngineError, EngineNotFound, EngineRefused
from berth.plan.model import ObjectChange
from berth.run import actions, objects


def test_inspect_gives_state_health_exit_code_and_restarts() -> None:
    info = container_from_inspect({
        "Id": "abc", "Name": "/keystone", "Image": "sha256:i", "RestartCount": 2,
        "Config": {"Labels": {"berth.role": "service"}},
        "State": {"Status": "restarting", "Running": True, "ExitCode": 3, "Health": {"Status": "unhealthy"}}})
    assert (info.name, info.state, info.health, info.exit_code, info.restart_count, info.image_id) == \
        ("keystone", "restarting", "unhealthy", 3, 2, "sha256:i")
    assert info.restarting and not info.running and info.labels == {"berth.role": "service"}


def test_inspect_gives_when_the_process_last_started_and_ended() -> None:
    info = container_from_inspect({
        "Id": "abc", "Name": "/k", "State": {"Status": "running", "StartedAt": "2026-12-02T12:21:20.03Z",
                                              "FinishedAt": "2026-12-02T12:21:19.30Z"}})
    never = container_from_inspect({"Id": "abc", "Name": "/k", "State": {
        "Status": "running", "StartedAt": "2026-12-02T12:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z"}})
    assert (info.started_at, info.finished_at) == ("2026-12-02T12:21:20.03Z", "2026-12-02T12:21:19.30Z")
    assert never.finished_at == "" and never.started_at == "2026-12-02T12:00:00Z"


def test_a_listing_row_gives_exit_code_from_the_status_text() -> None:
    row = {"Id": "abc", "Names": ["/x"], "State": "exited", "Status": "Exited (137) 2 minutes ago", "Labels": None}
    info = container_from_row(row)
    assert (info.exit_code, info.health, dict(info.labels), info.status_text) == \
        (137, None, {}, "Exited (137) 2 minutes ago")


def test_images_from_a_listing_and_from_inspect_drop_untagged_names() -> None:
    listed = _image({"Id": "sha256:1", "RepoTags": ["<none>:<none>"], "Labels": {"a": "b"}})
    inspected = _image({"Id": "sha256:2", "RepoTags": ["x:y"], "Config": {"Labels": {"c": "d"}}})
    assert (listed.tags, dict(listed.labels), inspected.tags, dict(inspected.labels)) == \
        ((), {"a": "b"}, ("x:y",), {"c": "d"})
    assert _image({"Id": "sha256:0123456789abcdef"}).short_id == "sha256:0123456789"


@pytest.mark.parametrize("raised,kind,message", [
    (docker.errors.NotFound("404", explanation="No such container: x"), EngineNotFound,
     "the Docker engine refused starting container x: No such container: x"),
    (docker.errors.APIError("409", explanation="Conflict"), EngineRefused,
     "the Docker engine refused starting container x: Conflict"),
    (requests.exceptions.ConnectionError("socket gone\nmore"), EngineError,
     "lost the Docker engine while starting container x: socket gone"),
])
def test_sdk_errors_become_berth_errors(raised: Exception, kind: type, message: str) -> None:
    with pytest.raises(kind) as info, engine_errors("starting container x"):
        raise raised
    assert info.value.message == message
    if kind is EngineError:
        assert info.value.hint == BOOTSTRAP_HINT


def test_doing_rewords_an_engine_failure_with_berths_purpose() -> None:
    from berth.engine.base import doing

    with pytest.raises(EngineRefused) as info, doing("creating database keystone"), \
            engine_errors("running /bin/sh in container mariadb"):
        raise docker.errors.APIError("409", explanation="container is paused")
    assert info.value.message == "the Docker engine refused creating database keystone: container is paused"
    assert str(info.value) == info.value.message and info.value.explanation == "container is paused"
    with pytest.raises(EngineError, match="^lost the Docker engine while dumping database nova: gone$"), \
            doing("dumping database nova"), engine_errors("running mariadb-dump in container mariadb"):
        raise requests.exceptions.ConnectionError("gone")


def test_removing_what_is_gone_is_fine_and_a_refusal_is_reported() -> None:
    engine = MemoryEngine()
    actions.remove(engine, "nothing-here")
    engine.create_volume("v", {})
    item = ObjectChange("volume", "v", "remove", ident="v")
    assert objects.remove(engine, item) == "volume v: removed"
    assert objects.remove(engine, item) == "volume v: already gone"

    class Busy(MemoryEngine):
        def remove_image(self, ref: str, force: bool = False) -> None:
            raise EngineRefused("refused", explanation="image is being used by a container")
    image = ObjectChange("image", "x:y", "remove", ident="x:y")
    assert objects.remove(Busy(), image) == "image x:y: kept (image is being used by a container)"


def test_a_missing_image_without_a_registry_is_a_deploy_error_naming_the_build() -> None:
    from berth.errors import DeployError

    with pytest.raises(DeployError, match="not present on the engine") as info:
        actions.ensure_image(MemoryEngine(), "berth/keystone:zed", lambda m: None)
    assert "berth build keystone" in (info.value.hint or "")
    with pytest.raises(DeployError, match="cannot be pulled: pull access denied"):
        actions.ensure_image(MemoryEngine(), "reg:4000/berth/keystone:zed", lambda m: None)
