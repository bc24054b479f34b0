"""Which Galera node starts the cluster again, and when a cluster needs it (pure decisions, no hosts)."""

from __future__ import annotations

import pytest

from berth.lifecycle.galera import GaleraError, NodeStatus, Position, choose, needs_recovery, refuse_missing

UUID = "4a8b2f6e-0000-11ef-8000-000000000001"
OTHER = "9c1d3e5f-0000-11ef-8000-000000000002"
ORDER = ("h1", "h2", "h3")


def pos(host: str, seqno: int, safe: bool = False, uuid: str = UUID, recovered: bool = False) -> Position:
    return Position(host, uuid, seqno, safe, recovered, grastate=True, initialised=True)


def test_the_highest_seqno_wins_whatever_the_inventory_order() -> None:
    choice = choose([pos("h1", 10), pos("h2", 14, recovered=True), pos("h3", 12)], ORDER)
    assert choice is not None
    assert (choice.host, choice.seqno, choice.joiners) == ("h2", 14, ("h1", "h3"))
    assert choice.reason == "highest seqno 14"


def test_a_tie_goes_to_the_node_galera_marked_safe_to_bootstrap() -> None:
    choice = choose([pos("h1", 7), pos("h2", 7), pos("h3", 7, safe=True)], ORDER)
    assert choice is not None and choice.host == "h3"
    assert "safe_to_bootstrap" in choice.reason


def test_a_tie_without_a_mark_goes_to_the_first_host_of_the_inventory() -> None:
    choice = choose([pos("h3", 7), pos("h2", 7)], ORDER)
    assert choice is not None and choice.host == "h2" and "first in the inventory" in choice.reason


def test_a_safe_mark_never_beats_a_higher_seqno() -> None:
    choice = choose([pos("h1", 5, safe=True), pos("h2", 6)], ORDER)
    assert choice is not None and choice.host == "h2"


def test_nodes_without_cluster_data_only_join() -> None:
    empty = Position("h1")  # a joiner that never finished its state transfer
    never = Position("h3", "", -1, grastate=False, initialised=True)  # initialised, never in a cluster
    choice = choose([empty, pos("h2", 3), never], ORDER)
    assert choice is not None and choice.host == "h2" and choice.joiners == ("h1", "h3")


def test_no_node_ever_in_a_cluster_means_nothing_to_recover() -> None:
    assert choose([Position("h1", grastate=False, initialised=True), Position("h2")], ORDER) is None
    assert choose([], ORDER) is None


def test_nodes_of_two_clusters_are_refused_naming_both() -> None:
    with pytest.raises(GaleraError) as err:
        choose([pos("h1", 9), pos("h2", 3, uuid=OTHER), pos("h3", 9)], ORDER)
    assert "2 different Galera clusters" in err.value.message
    assert f"{UUID}: h1, h3" in err.value.message and f"{OTHER}: h2" in err.value.message


def test_a_running_primary_node_means_no_recovery() -> None:
    statuses = [NodeStatus("h1", "running", True, "Synced", "Primary", 2), NodeStatus("h2", "exited", True),
                NodeStatus("h3", "running", True)]
    assert not needs_recovery(statuses)


def test_data_but_no_primary_node_needs_recovery() -> None:
    statuses = [NodeStatus("h1", "running", True), NodeStatus("h2", "running", True, "Initialized", "non-Primary"),
                NodeStatus("h3", None, False)]
    assert needs_recovery(statuses)


def test_a_fresh_deployment_needs_none() -> None:
    assert not needs_recovery([NodeStatus("h1"), NodeStatus("h2"), NodeStatus("h3")])


def test_a_host_that_does_not_answer_blocks_recovery_unless_allowed() -> None:
    with pytest.raises(GaleraError) as err:
        refuse_missing(["h3", "h2"], ["h2"])
    assert "without h3" in err.value.message and "--allow-missing h3" in (err.value.hint or "")
    refuse_missing(["h3"], ["h3"])


def test_reports_parse_from_the_hosts_json() -> None:
    status = NodeStatus.from_data("h1", {"container": "running", "volume": True, "state": "Synced",
                                         "cluster_status": "Primary", "cluster_size": 3})
    assert status.primary and status.cluster_size == 3
    position = Position.from_data("h2", {"grastate": True, "initialised": True, "uuid": UUID, "seqno": 42,
                                         "safe_to_bootstrap": 0, "recovered": True})
    assert position.has_data and position.describe() == "h2: seqno 42 (recovered from InnoDB)"
    assert Position.from_data("h3", {"grastate": False}).describe() == "h3: no cluster data"
