"""berth's plain container spec as docker SDK create arguments (the only place that knows the SDK's spelling)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docker.models.containers import _create_container_args

from berth.errors import DeployError

LOG_CONFIG = {"type": "json-file", "config": {"max-size": "50m", "max-file": "2"}}
NANO = 1_000_000_000
UNCONFINED_PATHS = "systempaths=unconfined"


def binds(volumes: list[str]) -> dict[str, dict[str, str]]:
    """`source:target[:mode]` strings as the SDK's mapping form.

    Why not the list form: the SDK derives each container-side path from a string by dropping only a `:ro`/`:rw`
    suffix, so `/run/netns:/run/netns:rshared` also declared an anonymous volume at `/run/netns:rshared`, and
    every such container left an empty volume behind.
    """
    out: dict[str, dict[str, str]] = {}
    for text in volumes:
        source, _, rest = text.partition(":")
        target, _, mode = rest.partition(":")
        if source in out:
            raise DeployError(f"volume source {source} is mounted twice in one container ({text})",
                              "mount it once and use a sub-path, or another volume")
        out[source] = {"bind": target, "mode": mode or "rw"}
    return out


def _healthcheck(h: Mapping[str, Any]) -> dict[str, Any]:
    """The engine counts health check durations in nanoseconds; the spec says seconds."""
    return {"test": h["test"], "interval": int(h["interval"] * NANO), "timeout": int(h["timeout"] * NANO),
            "retries": h["retries"], "start_period": int(h["start_period"] * NANO)}


def create_kwargs(name: str, spec: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, Any]:
    """docker SDK `containers.create` arguments from the plain-data spec (absent keys: engine defaults)."""
    s = spec
    restart = s.get("restart", "no")
    kwargs: dict[str, Any] = {
        "image": s["image"], "name": name, "detach": True, "labels": dict(labels),
        "network_mode": s.get("network_mode"), "environment": dict(s.get("environment") or {}) or None,
        "volumes": binds(list(s.get("volumes") or [])) or None, "cap_add": list(s.get("cap_add") or []) or None,
        "privileged": s.get("privileged") or None, "devices": list(s.get("devices") or []) or None,
        "security_opt": list(s.get("security_opt") or []) or None, "init": s.get("init") or None,
        "restart_policy": {"Name": restart} if restart != "no" else None, "log_config": LOG_CONFIG,
        "pid_mode": s.get("pid_mode") or None, "ipc_mode": s.get("ipc_mode") or None,
        "command": list(s["command"]) if s.get("command") else None, "user": s.get("user") or None,
        "entrypoint": list(s["entrypoint"]) if s.get("entrypoint") else None,
        "ports": {k: _bindings(v) for k, v in s["ports"].items()} if s.get("ports") else None,
    }
    if s.get("healthcheck"):
        kwargs["healthcheck"] = _healthcheck(s["healthcheck"])
    return {k: v for k, v in kwargs.items() if v is not None}


def _bindings(value: Any) -> Any:
    """`[ip, port]` is one binding; `[[ip, port], [ip2, port]]` several (the SDK wants tuples in a list)."""
    if value and isinstance(value[0], list | tuple):
        return [tuple(v) for v in value]
    return tuple(value)


def create_args(kwargs: dict[str, Any], api_version: str) -> dict[str, Any]:
    """Low-level `create_container` arguments, with `systempaths=unconfined` translated.

    `systempaths=unconfined` is a docker CLI option, not an engine one: the CLI sends empty MaskedPaths and
    ReadonlyPaths instead (a writable /proc/sys for sysctls, needed by neutron agents and nova-compute). The SDK
    has no parameter for them, so they are set on the host config it builds.
    """
    options = kwargs.get("security_opt") or []
    unconfined = UNCONFINED_PATHS in options
    if unconfined:
        kwargs = {**kwargs, "security_opt": [o for o in options if o != UNCONFINED_PATHS] or None}
    args = _create_container_args({**{k: v for k, v in kwargs.items() if v is not None}, "version": api_version})
    if unconfined:
        args["host_config"]["MaskedPaths"] = []
        args["host_config"]["ReadonlyPaths"] = []
    return args
