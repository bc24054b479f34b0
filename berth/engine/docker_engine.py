"""Connecting to the Docker engine, with failures turned into advice.

Everything else in berth receives a connected `docker.DockerClient` from `connect()` and wraps
engine calls in `engine_errors()` so that a missing socket or a refused request becomes one clear line.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import docker
import docker.errors
import requests.exceptions

from berth.errors import EngineError

BOOTSTRAP_HINT = "run `berth bootstrap-host` (as root) to install and start the Docker engine"
DEFAULT_TIMEOUT = 300  # seconds: image builds and pulls stream for a long time


def connect(timeout: int = DEFAULT_TIMEOUT) -> docker.DockerClient:
    """A client for the local engine ($DOCKER_HOST or the default socket), verified with a ping."""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except docker.errors.DockerException as exc:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise EngineError(f"cannot reach the Docker engine at {where}: {_short(exc)}", BOOTSTRAP_HINT) from exc
    except requests.exceptions.RequestException as exc:
        raise EngineError(f"cannot reach the Docker engine: {_short(exc)}", BOOTSTRAP_HINT) from exc
    return client


@contextlib.contextmanager
def engine_errors(doing: str) -> Iterator[None]:
    """Translate engine failures during `doing` (e.g. "starting container keystone") into EngineError."""
    try:
        yield
    except docker.errors.APIError as exc:
        explanation = getattr(exc, "explanation", None) or str(exc)
        raise EngineError(f"the Docker engine refused {doing}: {explanation}") from exc
    except requests.exceptions.ConnectionError as exc:
        raise EngineError(f"lost the Docker engine while {doing}: {_short(exc)}", BOOTSTRAP_HINT) from exc


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
