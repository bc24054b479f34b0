"""Fixed user ids of every service folder: one id per user, one user per id. Two folders giving the same id
to different users would make files in a shared volume (or restored from a backup) change owner between
services; found when two service folders added the same day both took 437 and 438."""

from __future__ import annotations

from berth.images.recipes import folder_data


def declared() -> list[tuple[str, str, int]]:
    """(folder, user, uid) for every fixed id: the folder's users and each image's own."""
    found = []
    for service, data in folder_data().items():
        found += [(service, user, uid) for user, uid in data.users.items()]
        found += [(service, user, uid) for entry in data.images.values() for user, uid in entry.users.items()]
    return found


def test_no_two_users_share_an_id() -> None:
    by_id: dict[int, set[str]] = {}
    for _service, user, uid in declared():
        by_id.setdefault(uid, set()).add(user)
    assert {uid: users for uid, users in by_id.items() if len(users) > 1} == {}


def test_no_user_has_two_ids() -> None:
    by_user: dict[str, set[int]] = {}
    for _service, user, uid in declared():
        by_user.setdefault(user, set()).add(uid)
    assert {user: ids for user, ids in by_user.items() if len(ids) > 1} == {}
    assert len(by_user) >= 20  # every OpenStack service's user and the infrastructure's are declared
