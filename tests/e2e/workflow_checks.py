"""The proofs of Mistral and Zaqar, shared by their own integration deployment (tests/integration/
test_mistral_zaqar.py) and the all-in-one e2e cloud (tests/e2e/aio/test_workflow_cloud.py), through openstacksdk
(the stock client) against the real APIs:

- Mistral: a workflow whose one task calls another OpenStack API with `std.http` and the caller's token, given as
  the execution's input (Debian has no mistral-extra, so no `nova.*` actions, and Mistral masks the token in
  `$.openstack`), runs to SUCCESS, and its output, the names the API listed, equals what the API tells
  openstacksdk; the execution (which holds the token in its input) and the workflow are deleted;
- Zaqar: a queue made, two messages posted, both claimed, deleted with the claim, the queue empty, then deleted.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from tests.sandbox import wait_for

# One task: GET <url> with the caller's token (an input: Mistral shows `$.openstack.auth_token` as "***"), then the
# names in the answer's <key> list.
WORKFLOW = """\
version: '2.0'
{name}:
  description: berth's proof - list {key} through another OpenStack API with the caller's token
  input:
    - url
    - key
    - token
  output:
    status: <% $.status %>
    names: <% $.items.select($.name) %>
  tasks:
    list:
      action: std.http
      input:
        url: <% $.url %>
        method: GET
        headers:
          X-Auth-Token: <% $.token %>
          Accept: application/json
      publish:
        status: <% task().result.status %>
        items: <% task().result.content.get($.key) %>
"""


def run_listing_workflow(conn: Any, url: str, key: str, timeout: float = 300) -> dict[str, Any]:
    """Create the workflow, execute it against `url` (a list call whose JSON answer has `key`: a list of objects
    with a name), wait for SUCCESS (an ERROR fails with Mistral's reason), delete both; returns the figures and the
    execution's output."""
    name = f"berth_list_{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    workflow = conn.workflow.create_workflow(definition=WORKFLOW.format(name=name, key=key), scope="private")
    try:
        execution = conn.workflow.create_execution(workflow_name=name,
                                                   input={"url": url, "key": key, "token": conn.auth_token})
        try:
            def finished() -> Any:
                found = conn.workflow.get_execution(execution.id)
                return found if found.status in ("SUCCESS", "ERROR", "CANCELLED") else None

            done = wait_for(f"Mistral execution of {name} finished", timeout, finished)
            assert done.status == "SUCCESS", f"{done.status}: {done.status_info}"
            output = done.output if isinstance(done.output, dict) else json.loads(done.output)
            return {"seconds": time.monotonic() - started, "output": output}
        finally:
            conn.workflow.delete_execution(execution.id, ignore_missing=True)
    finally:
        conn.workflow.delete_workflow(workflow.name or name, ignore_missing=True)


def check_workflow_lists(conn: Any, url: str, key: str, expected: list[str]) -> float:
    """The workflow's answer is the API's: status 200 and the same names (as a set: order is the API's own)."""
    result = run_listing_workflow(conn, url, key)
    output = result["output"]
    assert output["status"] == 200, output
    assert sorted(output["names"]) == sorted(expected), (output["names"], expected)
    return float(result["seconds"])


def check_images_listed(conn: Any) -> float:
    """Mistral lists Glance's images (the deployment's own image uploaded first when there is none)."""
    names = [image.name for image in conn.image.images()]
    assert names, "upload an image before: an empty list proves less"
    endpoint = conn.image.get_endpoint().rstrip("/").removesuffix("/v2")  # openstacksdk's may be versioned already
    return check_workflow_lists(conn, endpoint + "/v2/images", "images", names)


def check_servers_listed(conn: Any) -> float:
    """Mistral lists Nova's servers of the project, compared with openstacksdk's list."""
    names = [server.name for server in conn.compute.servers()]
    return check_workflow_lists(conn, conn.compute.get_endpoint().rstrip("/") + "/servers", "servers", names)


def check_queue_round_trip(conn: Any) -> dict[str, float]:
    """Zaqar: queue, two messages posted, claimed (both, with their bodies), deleted with the claim id, the queue then
    has no message, and is deleted. Returns the seconds of each part."""
    queue = f"berth-proof-{uuid.uuid4().hex[:8]}"
    bodies = [{"event": "berth-proof", "n": n} for n in (1, 2)]
    figures: dict[str, float] = {}
    started = time.monotonic()
    conn.message.create_queue(name=queue)
    try:
        assert queue in {q.name for q in conn.message.queues()}
        # through the proxy's session rather than post_message, which turns an error answer into a KeyError
        answer = conn.message.post(f"/queues/{queue}/messages", json={"messages": [
            {"body": body, "ttl": 300} for body in bodies]}, headers={"Client-ID": str(uuid.uuid4())})
        assert answer.status_code == 201, f"{answer.status_code}: {answer.text}"
        assert len(answer.json()["resources"]) == 2, answer.text
        figures["post"] = time.monotonic() - started
        # the claim through the proxy's session too: openstacksdk's Claim fails reading the answer's Location
        answer = conn.message.post(f"/queues/{queue}/claims?limit=10", json={"ttl": 120, "grace": 60},
                                   headers={"Client-ID": str(uuid.uuid4())})
        assert answer.status_code == 201, f"{answer.status_code}: {answer.text}"
        claimed = answer.json()["messages"]
        assert sorted(m["body"]["n"] for m in claimed) == [1, 2], claimed
        claim_id = answer.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
        assert all(m["href"].endswith(f"?claim_id={claim_id}") for m in claimed), claimed
        figures["claim"] = time.monotonic() - started
        for message in claimed:
            message_id = message["href"].split("?")[0].rsplit("/", 1)[-1]
            conn.message.delete_message(queue, message_id, claim=claim_id, ignore_missing=False)
        # nothing left: the queue's stats count no message, and a new claim gets none (204). (Listing the messages
        # is left out: Zaqar 20's Redis store passes a None marker that python3-redis 6 refuses: docs/services.md)
        stats = conn.message.get(f"/queues/{queue}/stats", headers={"Client-ID": str(uuid.uuid4())})
        assert stats.status_code == 200 and stats.json()["messages"]["total"] == 0, stats.text
        again = conn.message.post(f"/queues/{queue}/claims", json={"ttl": 60, "grace": 60},
                                  headers={"Client-ID": str(uuid.uuid4())})
        assert again.status_code == 204, f"{again.status_code}: {again.text}"
        figures["delete"] = time.monotonic() - started
    finally:
        conn.message.delete_queue(queue)
    assert queue not in {q.name for q in conn.message.queues()}
    return figures
