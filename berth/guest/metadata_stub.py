"""A one-connection stand-in for Nova's metadata API, for boot tests of the guest under qemu's user network.

qemu runs it per guest connection (`guestfwd=...-cmd:`), with the TCP stream on stdin/stdout: no socket is
opened on the host at all. `python -m berth.guest.metadata_stub UUID [ec2]` answers the OpenStack path with
{"uuid": UUID}, or with `ec2` only the EC2-style path (to exercise the guest's fallback).
"""

from __future__ import annotations

import json
import sys


def respond(request_line: str, uuid: str, ec2_only: bool) -> bytes:
    path = request_line.split(" ")[1] if request_line.count(" ") >= 2 else ""
    if path == "/openstack/latest/meta_data.json" and not ec2_only:
        status, body = "200 OK", json.dumps({"uuid": uuid, "name": "berth-test"}).encode()
    elif path == "/latest/meta-data/instance-id" and ec2_only:
        status, body = "200 OK", uuid.encode()
    else:
        status, body = "404 Not Found", b"not found\n"
    head = f"HTTP/1.0 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    return head.encode() + body


def main(argv: list[str]) -> None:
    request = sys.stdin.readline()
    while sys.stdin.readline().strip():  # skip headers up to the blank line
        pass
    sys.stdout.buffer.write(respond(request, argv[0], argv[1:] == ["ec2"]))
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
