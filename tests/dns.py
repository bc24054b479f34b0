"""DNS checks shared by the Designate tests (its own integration deployment and the e2e cloud): is a port free
for BIND, `dig` against it, and the main proof — a zone and an A record made through Designate's API answered by
BIND, gone again when the zone is deleted."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Any

from tests.sandbox import wait_for

ZONE = "berth-dns-test.test."
RECORD = f"www.{ZONE}"
RECORD_ADDRESS = "192.0.2.53"  # TEST-NET-1: only ever an answer, never contacted


def free(address: str, port: int) -> bool:
    """Both UDP and TCP `port` can be bound on `address` (nothing else answers DNS there)."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, port))
            except OSError:
                return False
    return True


def dig(address: str, port: int, name: str, kind: str = "A", *options: str) -> str:
    """`dig` on the host against BIND: the answer (+short), or the status line's rcode with +noall +comments."""
    proc = subprocess.run(["dig", f"@{address}", "-p", str(port), name, kind, "+time=1", "+tries=1", *options],
                          capture_output=True, text=True, check=False, timeout=10)
    return proc.stdout.strip()


def rcode(address: str, port: int, name: str, kind: str = "A", *options: str) -> str:
    out = dig(address, port, name, kind, "+noall", "+comments", *options)
    for line in out.splitlines():
        if "status:" in line:
            return line.split("status:")[1].split(",")[0].strip()
    return f"no answer: {out!r}"


def record_round_trip(dns: Any, address: str, port: int) -> dict[str, float]:
    """Zone and A record through the API (openstacksdk's dns proxy) until BIND answers the record with authority;
    the zone deleted until BIND refuses the name and the API no longer lists it. Returns the seconds taken."""
    zone = dns.create_zone(name=ZONE, email=f"hostmaster@{ZONE.rstrip('.')}", ttl=60)
    figures: dict[str, float] = {}
    try:
        wait_for("zone ACTIVE", 90, lambda: dns.get_zone(zone).status == "ACTIVE", interval=0.5)
        assert rcode(address, port, ZONE, "SOA") == "NOERROR"  # BIND has the zone: added with rndc, from mdns
        assert dig(address, port, ZONE, "NS", "+short") == "ns1.berth.test."
        start = time.monotonic()
        recordset = dns.create_recordset(zone, name=RECORD, type="A", records=[RECORD_ADDRESS], ttl=60)
        wait_for("the record answered by BIND", 60,
                 lambda: dig(address, port, RECORD, "A", "+short") == RECORD_ADDRESS, interval=0.2)
        figures["record created -> dig answers"] = time.monotonic() - start
        wait_for("recordset ACTIVE", 60, lambda: dns.get_recordset(recordset, zone).status == "ACTIVE",
                 interval=0.5)
        assert rcode(address, port, RECORD, "A", "+norecurse") == "NOERROR"
        flags = dig(address, port, RECORD, "A", "+noall", "+comments").split("flags:")[1].split(";")[0]
        assert "aa" in flags.split()
    finally:
        dns.delete_zone(zone, ignore_missing=True)
    start = time.monotonic()
    wait_for("the name no longer answered", 60, lambda: rcode(address, port, RECORD) == "REFUSED", interval=0.2)
    figures["zone deleted -> dig refuses"] = time.monotonic() - start
    wait_for("the zone gone from the API", 60, lambda: dns.find_zone(ZONE) is None, interval=0.5)
    return figures


PORT_ZONE = "berth-ports.test."
PORT_NAME = "e2e-port"
PORT_CIDR = "198.51.100.240/28"  # TEST-NET-2, on a network with no host device: only ever an answer
PORT_VNI = 16000000  # a provider VXLAN network (outside every tenant VNI range): Neutron publishes its ports


def port_round_trip(conn: Any, address: str, port: int) -> dict[str, float]:
    """Neutron's DNS integration: a port with a `dns_name` on a provider network whose `dns_domain` is a
    Designate zone gets its A record there (BIND answers it with the port's address) and loses it when the port
    is deleted. Ports of tenant networks and of external networks are not published by Neutron (floating IPs
    are), hence the provider VXLAN network. Returns the seconds taken."""
    zone = conn.dns.create_zone(name=PORT_ZONE, email=f"hostmaster@{PORT_ZONE.rstrip('.')}", ttl=60)
    network = conn.network.create_network(name="berth-dns-ports", dns_domain=PORT_ZONE,
                                           provider_network_type="vxlan", provider_segmentation_id=PORT_VNI)
    figures: dict[str, float] = {}
    name = f"{PORT_NAME}.{PORT_ZONE}"
    try:
        conn.network.create_subnet(network_id=network.id, ip_version=4, cidr=PORT_CIDR, enable_dhcp=False)
        wait_for("zone ACTIVE", 90, lambda: conn.dns.get_zone(zone).status == "ACTIVE", interval=0.5)
        start = time.monotonic()
        made = conn.network.create_port(network_id=network.id, dns_name=PORT_NAME)
        fixed = made.fixed_ips[0]["ip_address"]
        assert made.dns_name == PORT_NAME  # (its dns_assignment is the internal name, in neutron_dns_domain)
        wait_for("the port's name answered by BIND", 90,
                 lambda: dig(address, port, name, "A", "+short") == fixed, interval=0.5)
        figures["port created -> dig answers its name"] = time.monotonic() - start
        start = time.monotonic()
        conn.network.delete_port(made)
        wait_for("the port's name gone", 90, lambda: rcode(address, port, name) == "NXDOMAIN", interval=0.5)
        figures["port deleted -> the name is gone"] = time.monotonic() - start
    finally:
        for leftover in conn.network.ports(network_id=network.id):
            conn.network.delete_port(leftover)
        conn.network.delete_network(network, ignore_missing=True)
        conn.dns.delete_zone(zone, ignore_missing=True)
    return figures
