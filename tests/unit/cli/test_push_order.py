"""`berth push` pushes along the image tree: a child only once its parents are pushed, several at a time."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from berth.cli.commands.images import push_along_tree
from berth.cli.context import AppContext
from berth.errors import BuildError

TREE = {"base": (), "openstack-base": ("base",), "keystone": ("openstack-base",), "glance": ("openstack-base",),
        "nova-base": ("openstack-base",), "nova-api": ("nova-base",), "mariadb": ("base",)}


def plan() -> Any:
    return SimpleNamespace(images={n: SimpleNamespace(ref=f"r/{n}:zed", node=SimpleNamespace(parents=p))
                                   for n, p in TREE.items()})


def test_children_wait_for_their_parents_and_siblings_overlap() -> None:
    spans: dict[str, tuple[float, float]] = {}
    lock = threading.Lock()
    live, most = [0], [0]

    def push(_client: Any, ref: str) -> None:
        start = time.monotonic()
        with lock:
            live[0] += 1
            most[0] = max(most[0], live[0])
        time.sleep(0.05)
        with lock:
            live[0] -= 1
        spans[ref.split("/")[1].split(":")[0]] = (start, time.monotonic())

    push_along_tree(AppContext(quiet=True), None, plan(), push)
    assert set(spans) == set(TREE)
    for name, parents in TREE.items():
        assert all(spans[p][1] <= spans[name][0] for p in parents), name
    assert most[0] > 1  # siblings (keystone, glance, nova-base; openstack-base and mariadb) went together


def test_a_failed_push_is_raised_and_its_children_are_not_pushed() -> None:
    pushed: list[str] = []

    def push(_client: Any, ref: str) -> None:
        if "openstack-base" in ref:
            raise BuildError(f"pushing {ref} failed: registry unreachable", "start it")
        pushed.append(ref)

    with pytest.raises(BuildError, match="openstack-base"):
        push_along_tree(AppContext(quiet=True), None, plan(), push)
    assert not {"r/keystone:zed", "r/glance:zed", "r/nova-api:zed"} & set(pushed)
