from __future__ import annotations

import json

import pytest

from berth.errors import HostError
from berth.host.bootstrap import write_daemon_json
from berth.host.osinfo import parse_os_release, require_supported
from berth.run.events import Status

DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\nPRETTY_NAME="Ubuntu 24.04 LTS"\n'
MINT = 'ID=linuxmint\nID_LIKE="ubuntu debian"\nPRETTY_NAME="Linux Mint 21"\n'
FEDORA = 'ID=fedora\nVERSION_ID=40\nPRETTY_NAME="Fedora Linux 40"\n'


@pytest.mark.parametrize("text, family", [(DEBIAN, "debian"), (UBUNTU, "debian"), (MINT, "debian"), (FEDORA, None)])
def test_family(text, family):
    assert parse_os_release(text).family == family


def test_debian_fields():
    info = parse_os_release(DEBIAN)
    assert (info.id, info.version_id, info.pretty_name) == ("debian", "12", "Debian GNU/Linux 12 (bookworm)")


def test_other_distribution_is_refused_with_its_name():
    with pytest.raises(HostError, match="unsupported distribution: Fedora Linux 40"):
        require_supported(parse_os_release(FEDORA))


def test_daemon_json_keeps_operator_settings_and_is_idempotent(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"log-driver": "journald", "debug": True}))
    assert write_daemon_json(path, lambda m: None) is Status.SUCCEEDED
    data = json.loads(path.read_text())
    assert data["log-driver"] == "journald" and data["debug"] is True and "log-opts" in data
    assert write_daemon_json(path, lambda m: None) is Status.CACHED
