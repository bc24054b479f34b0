"""The README's main command for real, then the issue's acceptance list against the cloud it made.

`scripts/aio.sh` runs with its own config dir (deployment `berthe2e` on 127.0.0.51, own Erlang ports, provider
interface and VNI range; the package's `cloud` fixture in conftest.py, shared with the other modules here, which
adds Ceph, Cinder, Glance on RBD and Designate) and the defaults for everything else — so nova and neutron come from
`enabled_by_default`. Every check uses the real clients: the `openstack` CLI with the admin-openrc.sh the deploy
wrote, `ip netns exec` on the host, and Debian's Chromium driven by Selenium. The module removes everything
the deployment made at the end, also when a test fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from berth.guest.qemu import MARKER
from tests.e2e.cloud_env import L2_AGENT_TYPE, RELEASE, CloudEnv
from tests.sandbox import wait_for

pytestmark = pytest.mark.e2e

SERVER = "e2e-vm"


def _json(env: CloudEnv, *args: str) -> Any:
    return json.loads(env.openstack(*args, "-f", "json"))


def test_main_command_says_how_to_use_the_cloud(cloud: dict[str, Any]) -> None:
    env: CloudEnv = cloud["env"]
    out = cloud["output"]
    password = yaml.safe_load((env.config_dir / "passwords.yml").read_text())["keystone_admin_password"]
    assert password not in out, "the admin password must never be printed"
    assert f"{env.config_dir}/admin-openrc.sh" in out
    assert f"Horizon: http://{env.api_address}/" in out
    assert f"keystone_admin_password in {env.config_dir}/passwords.yml" in out
    assert re.search(r"test server berth-test: id [0-9a-f-]{36}, IP 10\.0\.0\.\d+ \(ACTIVE", out), out[-2000:]
    key = env.config_dir / "berth_id_ed25519"
    assert key.stat().st_mode & 0o777 == 0o600
    assert "PRIVATE KEY" not in out


def test_token_issue(cloud: dict[str, Any]) -> None:
    token = _json(cloud["env"], "token", "issue")
    assert token["id"] and token["project_id"] and token["user_id"]


def test_catalog_lists_every_service(cloud: dict[str, Any]) -> None:
    env: CloudEnv = cloud["env"]
    types = {s["Type"] for s in _json(env, "service", "list")}
    assert {"identity", "image", "placement", "compute", "network", "orchestration"} <= types, types
    endpoints = _json(env, "endpoint", "list", "--interface", "public")
    assert {e["Service Type"] for e in endpoints} >= types
    assert all(env.api_address in e["URL"] and e["Enabled"] for e in endpoints), endpoints


def test_compute_services_hypervisor_and_agents_are_up(cloud: dict[str, Any]) -> None:
    env: CloudEnv = cloud["env"]
    services = _json(env, "compute", "service", "list")
    assert {"nova-conductor", "nova-scheduler", "nova-compute"} <= {s["Binary"] for s in services}
    assert all(s["State"] == "up" and s["Status"] == "enabled" for s in services), services
    hypervisors = _json(env, "hypervisor", "list")
    assert len(hypervisors) == 1 and hypervisors[0]["State"] == "up", hypervisors

    def agents_alive() -> list[dict[str, Any]] | None:
        agents = _json(env, "network", "agent", "list")
        kinds = {a["Agent Type"] for a in agents if a["Alive"] in (True, ":-)")}
        ok = {L2_AGENT_TYPE, "DHCP agent", "L3 agent", "Metadata agent"} <= kinds
        return agents if ok and all(a["State"] in (True, "UP") for a in agents) else None

    wait_for("all network agents alive and up", 90, agents_alive)


def test_image_upload(cloud: dict[str, Any]) -> None:
    env: CloudEnv = cloud["env"]
    data = cloud["work"] / "upload.raw"
    data.write_bytes(os.urandom(1 << 20))
    image = _json(env, "image", "create", "--file", str(data), "--disk-format", "raw", "--container-format",
                  "bare", "e2e-upload")
    try:
        shown = _json(env, "image", "show", image["id"])
        assert shown["status"] == "active" and shown["size"] == 1 << 20
    finally:
        env.openstack("image", "delete", image["id"])


@pytest.fixture(scope="module")
def server(cloud: dict[str, Any]) -> dict[str, Any]:
    """`openstack server create --wait` from the test guest init-runonce uploaded, on its demo network."""
    env: CloudEnv = cloud["env"]
    start = time.monotonic()
    created = _json(env, "server", "create", "--image", "berth-test-guest", "--flavor", "m1.tiny",
                    "--network", "demo-net", "--key-name", "mykey", "--wait", SERVER)
    created["active_seconds"] = time.monotonic() - start
    print(f"openstack server create --wait: ACTIVE after {created['active_seconds']:.1f}s")
    return created


def test_server_create_reaches_active(server: dict[str, Any]) -> None:
    assert server["status"] == "ACTIVE", server
    assert server["active_seconds"] < 60


def _address(server: dict[str, Any]) -> str:
    addresses = server["addresses"]
    text = json.dumps(addresses) if not isinstance(addresses, str) else addresses
    found = re.findall(r"10\.0\.0\.\d+", text)
    assert found, f"no demo-net address in {addresses!r}"
    return found[0]


def test_console_shows_marker_dhcp_address_and_instance_id(cloud: dict[str, Any], server: dict[str, Any]) -> None:
    env: CloudEnv = cloud["env"]
    console = wait_for("the marker on the console", 180,
                    lambda: (out := env.openstack("console", "log", "show", server["id"])) and MARKER in out and out)
    assert f"BERTH-IP {_address(server)}" in console, console[-1500:]
    assert f"BERTH-INSTANCE-ID {server['id']}" in console, console[-1500:]


def test_server_answers_ping_from_the_router_namespace(cloud: dict[str, Any], server: dict[str, Any]) -> None:
    env: CloudEnv = cloud["env"]
    router = _json(env, "router", "show", "demo-router")["id"]
    ip = _address(server)
    _apt_install("ping", "iputils-ping")

    def ping() -> subprocess.CompletedProcess[str] | None:
        proc = subprocess.run(["ip", "netns", "exec", f"qrouter-{router}", "ping", "-c", "3", "-W", "2", ip],
                              capture_output=True, text=True, check=False)
        return proc if proc.returncode == 0 else None

    proc = wait_for(f"{ip} answers ping from qrouter-{router}", 60, ping)
    assert " 0% packet loss" in proc.stdout


def _apt_install(command: str, *packages: str) -> None:
    """Debian packages the checks need on the host, installed without recommends when `command` is missing."""
    if shutil.which(command):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False, timeout=600)
    proc = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages], env=env,
                          capture_output=True, text=True, check=False, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


# -- Horizon in a real browser ----------------------------------------------------------------------------------

def _chromium() -> tuple[str, str]:
    """Debian's chromium and chromium-driver (the browser is never downloaded by a tool)."""
    _apt_install("chromium", "chromium")
    _apt_install("chromedriver", "chromium-driver")
    return "/usr/bin/chromium", "/usr/bin/chromedriver"


def _browser(profile: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", "--window-size=1400,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


def test_horizon_admin_login_shows_the_instances(cloud: dict[str, Any], server: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    env: CloudEnv = cloud["env"]
    password = yaml.safe_load((env.config_dir / "passwords.yml").read_text())["keystone_admin_password"]
    base = f"http://{env.api_address}"
    browser = _browser(cloud["work"] / "chromium-profile")
    try:
        browser.set_page_load_timeout(120)
        browser.get(f"{base}/")  # as a person would: the address, redirected to the login page
        WebDriverWait(browser, 60).until(ec.presence_of_element_located((By.ID, "id_username")))
        browser.find_element(By.ID, "id_username").send_keys("admin")
        browser.find_element(By.ID, "id_password").send_keys(password)
        browser.find_element(By.ID, "loginBtn").click()
        WebDriverWait(browser, 120).until(lambda b: "/auth/login" not in b.current_url)
        browser.get(f"{base}/horizon/project/instances/")
        WebDriverWait(browser, 120).until(ec.presence_of_element_located((By.ID, "instances")))
        shot = cloud["work"] / "horizon-instances.png"
        browser.save_screenshot(str(shot))
        print(f"screenshot: {shot}")
        page = browser.page_source
        assert SERVER in page and "berth-test" in page, page[-3000:]
        assert "Active" in page
    finally:
        browser.quit()
        shutil.rmtree(cloud["work"] / "chromium-profile", ignore_errors=True)


def _create_active(env: CloudEnv, name: str, timeout: float = 120) -> dict[str, Any]:
    created = _json(env, "server", "create", "--image", "berth-test-guest", "--flavor", "m1.tiny",
                    "--network", "demo-net", name)

    def active() -> dict[str, Any] | None:
        shown = _json(env, "server", "show", created["id"])
        assert shown["status"] != "ERROR", shown
        return shown if shown["status"] == "ACTIVE" else None

    return wait_for(f"server {name} ACTIVE", timeout, active)


@pytest.mark.skipif(RELEASE != "zed", reason="the linuxbridge agent's ebtables rules: zed only (epoxy: ML2/OVS)")
def test_port_update_then_servers_come_and_go(cloud: dict[str, Any], server: dict[str, Any]) -> None:
    """A port update re-installs the port's ARP-spoofing rules, which deletes its among rule first.

    With Debian's ebtables-nft 1.8.9 that delete fails (RULE_DELETE: Invalid argument) and the linuxbridge agent
    retried it forever while holding its ebtables lock, so every later server stayed in BUILD. The agent image
    deletes such rules by number (berth-ebtables-delete); this checks the whole cycle.
    """
    env: CloudEnv = cloud["env"]
    port = _json(env, "port", "list", "--server", server["id"])[0]
    env.openstack("port", "set", "--allowed-address", "ip-address=10.0.0.250", port["ID"])
    agent = f"{env.deployment}-neutron_linuxbridge_agent"
    tap = f"tap{port['ID'][:11]}"

    def rules_reinstalled() -> str | None:
        out = subprocess.run(["docker", "exec", agent, "ebtables", "-t", "nat", "-L"], capture_output=True,
                             text=True, check=True).stdout
        return out if "--arp-ip-src 10.0.0.250" in out else None

    rules = wait_for("the port's ARP rules re-installed with the allowed address", 60, rules_reinstalled)
    mac_rules = [line for line in rules.splitlines() if f"-i {tap} --among-src" in line]
    assert len(mac_rules) == 1, rules
    gone = []
    for name in ("e2e-vm-2", "e2e-vm-3"):
        other = _create_active(env, name)
        gone += [f"tap{p['ID'][:11]}" for p in _json(env, "port", "list", "--server", other["id"])]
        env.openstack("server", "delete", "--wait", other["id"])
    leftovers = subprocess.run(["docker", "exec", agent, "ebtables", "-t", "nat", "-L"], capture_output=True,
                               text=True, check=True).stdout
    # the deleted servers' ports left no rules (the table is host-wide: another cloud's guests may have theirs)
    assert gone and not [tap for tap in gone if tap in leftovers], leftovers
    assert f"-i {tap} --among-src" in leftovers, leftovers
    logs = subprocess.run(["docker", "logs", "--since", "10m", agent], capture_output=True, text=True, check=True)
    assert "RULE_DELETE" not in logs.stdout + logs.stderr


@pytest.mark.extended  # ~1 min of CI's 60: the lab e2e restarts whole engines and checks the servers come back
def test_guest_runs_again_after_libvirt_and_compute_restart(cloud: dict[str, Any], server: dict[str, Any]) -> None:
    """qemu lives in nova_libvirt, so a restart of it (upgrade, reboot, engine restart) stops the guest;
    nova-compute must start it again (`resume_guests_state_on_host_boot`), and it must answer ping again."""
    env: CloudEnv = cloud["env"]
    libvirt, compute = f"{env.deployment}-nova_libvirt", f"{env.deployment}-nova_compute"
    subprocess.run(["docker", "restart", libvirt, compute], check=True, capture_output=True)

    def qemu_running() -> bool:
        return subprocess.run(["docker", "exec", libvirt, "pgrep", "-f", server["id"]], capture_output=True,
                              check=False).returncode == 0

    wait_for("the guest's qemu started again by nova-compute", 180, qemu_running)
    router = _json(env, "router", "show", "demo-router")["id"]
    ip = _address(server)
    wait_for(f"{ip} answers ping again", 180, lambda: subprocess.run(
        ["ip", "netns", "exec", f"qrouter-{router}", "ping", "-c", "1", "-W", "2", ip],
        capture_output=True, check=False).returncode == 0)
    assert _json(env, "server", "show", server["id"])["status"] == "ACTIVE"


def test_rerun_is_safe_and_fast(cloud: dict[str, Any]) -> None:
    """The main command again: nothing rebuilt, nothing redeployed, every resource found, the server kept."""
    env: CloudEnv = cloud["env"]
    rc, seconds, out = env.aio(cloud["work"] / "aio-rerun.log")
    assert rc == 0, out[-4000:]
    print(f"scripts/aio.sh re-run: {seconds:.1f}s")
    assert "nothing to do: every container is up to date" in out
    assert "  created  " not in out, out[-3000:]
    assert "(already running)" in out
    assert seconds < 120
