"""History decisions: rollback targets, schema changes since, restore sources; the file round-trip."""

from __future__ import annotations

import stat

import pytest

from berth.errors import NotFoundError
from berth.state.history import (
    DONE,
    PENDING,
    Backup,
    ContainerRecord,
    Entry,
    History,
    current,
    pending,
    restore_source,
    rollback_target,
    schema_changed,
    schema_changes_since,
)


def rec(tag: str, image_id: str = "sha256:aaa") -> ContainerRecord:
    return ContainerRecord(key="keystone", name="keystone", image=f"berth/keystone:{tag}", image_id=image_id,
                           config_hash="c", spec_hash="s", spec={"image": f"berth/keystone:{tag}"},
                           files={"keystone.conf": "[DEFAULT]\n"})


def entry(id_: int, kind: str = "upgrade", changed: bool = False, state: str = DONE, service: str = "keystone",
          backups: tuple[Backup, ...] = ()) -> Entry:
    return Entry(id=id_, time=float(id_), service=service, kind=kind, containers=(rec(f"t{id_}"),),
                 backups=backups, schema_changed=changed, state=state)


def test_default_target_is_the_entry_before_the_current_one():
    entries = [entry(1, "deploy"), entry(2, service="glance"), entry(3), entry(4)]
    assert rollback_target(entries, "keystone", None).id == 3
    assert current(entries, "keystone").id == 4


def test_pending_entries_are_no_targets_but_are_found_for_resuming():
    entries = [entry(1, "deploy"), entry(2), entry(3, state=PENDING)]
    assert rollback_target(entries, "keystone", None).id == 1
    assert pending(entries, "keystone").id == 3
    assert pending(entries[:2], "keystone") is None


def test_explicit_target_must_exist_for_the_service():
    entries = [entry(1, "deploy"), entry(2, service="glance"), entry(3)]
    assert rollback_target(entries, "keystone", 1).id == 1
    with pytest.raises(NotFoundError, match="no history entry 2 for service keystone"):
        rollback_target(entries, "keystone", 2)


def test_nothing_to_roll_back_to():
    with pytest.raises(NotFoundError, match="no earlier history entry"):
        rollback_target([entry(1, "deploy")], "keystone", None)


def test_restore_source_is_the_backup_before_the_first_schema_change_after_the_target():
    first = (Backup("keystone", "/b/2/keystone.sql.gz", 2.0),)
    second = (Backup("keystone", "/b/4/keystone.sql.gz", 4.0),)
    entries = [entry(1, "deploy"), entry(2, changed=True, backups=first), entry(3),
               entry(4, changed=True, backups=second)]
    assert [e.id for e in schema_changes_since(entries, "keystone", entries[0])] == [2, 4]
    assert restore_source(entries, "keystone", entries[0]) == first
    assert restore_source(entries, "keystone", entries[2]) == second
    assert restore_source(entries, "keystone", entries[3]) == ()


def test_schema_changed_compares_fingerprints():
    assert not schema_changed({"keystone": "a"}, {"keystone": "a"})
    assert schema_changed({"keystone": "a"}, {"keystone": "b"})
    assert schema_changed({}, {"keystone": "b"})


def test_file_round_trip_ids_grow_and_mode_is_private(tmp_path):
    history = History(tmp_path)
    first = history.add(entry(0, "deploy"))
    second = history.add(entry(0, backups=(Backup("keystone", "/x.sql.gz", 1.0, 10),)))
    assert (first.id, second.id) == (1, 2)
    assert stat.S_IMODE(history.path.stat().st_mode) == 0o600
    loaded = history.entries()
    assert loaded == [first, second]
    history.update(Entry(**{**second.__dict__, "note": "done"}))
    assert history.entries()[1].note == "done"


def test_summary_hides_config_files_and_shows_tags():
    summary = entry(5).summary()
    assert summary["tags"] == ["t5"] and "files" not in str(summary)
    assert summary["images"] == {"keystone": "aaa"}
