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
