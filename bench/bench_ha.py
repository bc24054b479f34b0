"""HA control plane figures on three `berth lab` controllers and a compute (issue 14), medians of several runs.

    python bench/bench_ha.py [--runs 3]

Setup (once, timed: the HA deploy): lab `ha` of tests/e2e/test_ha_cloud.py (3 controllers + 1 compute, VIP, TLS on
the external VIP, Galera, RabbitMQ, Keystone, Glance, Placement, Nova and Neutron on every controller), images pushed
to the lab registry, `berth deploy`.
Per run:
  rolling upgrade: Keystone, Glance and Nova's control services to another tag, one controller at a time, while
                   three clients loop on the VIP (GET /v3 and glance /healthcheck every 0.2 s, nova GET /servers
                   every 0.5 s): failed requests (target 0) and seconds;
  losing the VIP holder: `lab kill` the holder while clients loop (GET /v3 every 0.2 s, token issue every 0.5 s):
                   seconds until the VIP is on another controller, failed requests, longest gap; then `lab up` +
                   `berth deploy` (the host rejoins; not counted);
  full stop:       `lab kill` every controller, `lab up`, `berth deploy`: seconds until a token is issued through
                   the VIP again, with every committed row (projects made before) kept.
The lab hosts share this machine's kernel and its 2 CPUs (docs/lab.md): these are lab figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from berth.cli.main import main
from tests.e2e import test_ha_cloud as ha
from tests.sandbox import wait_for


def rolling(env: ha.Cloud, run: int) -> tuple[float, int, int]:
    tag = f"ha-bench{run}"
    ha.retag(env.lab, tag)
    token = ha.issue_token(ha.admin_password(env), timeout=90)
    started = time.monotonic()
    with ha.ClientLoop(ha.answers(ha.KEYSTONE)) as identity, ha.ClientLoop(ha.answers(ha.GLANCE)) as images, \
            ha.ClientLoop(ha.lists(ha.SERVERS, token), 0.5) as servers:
        proc = env.berth("upgrade", "--tag", tag, "--yes", "--limit", "control", *ha.ROLLED, timeout=1800)
        elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"rolling upgrade failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    loops = (identity, images, servers)
    return elapsed, sum(x.failed for x in loops), sum(len(x.results) for x in loops)


def lose_holder(env: ha.Cloud) -> tuple[float, int, float]:
    holder = ha.vip_holders(env.lab)[0]
    with ha.ClientLoop(ha.answers(ha.KEYSTONE)) as loop, \
            ha.ClientLoop(ha.issues_tokens(ha.admin_password(env)), 0.5) as tokens:
        time.sleep(3)
        killed = time.monotonic()
        main(["--quiet", "lab", "kill", "--name", ha.NAME, holder])
        wait_for("the VIP elsewhere", 60,
                 lambda: len(ha.vip_holders(env.lab)) == 1 and ha.vip_holders(env.lab)[0] != holder, 0.2)
        moved = time.monotonic() - killed
        time.sleep(20)
    back_up(env)
    return moved, loop.failed + tokens.failed, max(loop.longest_gap, tokens.longest_gap)


def back_up(env: ha.Cloud) -> None:
    main(["--quiet", "lab", "up", "--hosts", str(len(ha.HOSTS) + 1), "--name", ha.NAME, "--cidr", ha.CIDR,
          "--registry-port", str(ha.PORT)])
    env.refresh()
    code, _, _, stderr = env.deploy()
    if code != 0:
        raise SystemExit(f"deploy after lab up failed: {stderr[-2000:]}")


def full_stop(env: ha.Cloud, run: int) -> float:
    kept = {ha.admin_sdk(env).identity.create_project(name=f"bench-{run}-{n}", domain_id="default").name
            for n in range(3)}
    for host in ha.controllers(env.lab):
        main(["--quiet", "lab", "kill", "--name", ha.NAME, host.name])
    started = time.monotonic()
    back_up(env)
    token_served = ha.issues_tokens(ha.admin_password(env))
    wait_for("a token through the VIP", 300, lambda: not token_served(), 1.0)
    took = time.monotonic() - started
    if not kept <= {p.name for p in ha.admin_sdk(env).identity.projects()}:
        raise SystemExit("committed rows were lost")
    return took


def median(values: list[float]) -> str:
    return f"median {statistics.median(values):.1f} (runs {', '.join(f'{v:.1f}' for v in values)})"


def main_(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-ha-") as tmp:
        started = time.monotonic()
        fixture = ha.ha_cloud(Path(tmp))  # the e2e's own setup and teardown
        env = next(fixture)
        deployed = time.monotonic() - started
        try:
            rolls = [rolling(env, n) for n in range(args.runs)]
            losses = [lose_holder(env) for _ in range(args.runs)]
            stops = [full_stop(env, n) for n in range(args.runs)]
        finally:
            next(fixture, None)
    print(f"HA deploy on {len(ha.HOSTS)} controllers and a compute (lab up, push, deploy): {deployed:.1f}s")
    print(f"rolling upgrade of {', '.join(ha.ROLLED)}: {median([r[0] for r in rolls])}s; failed requests "
          f"{[r[1] for r in rolls]} of {[r[2] for r in rolls]}")
    print(f"VIP failover after losing its holder: {median([x[0] for x in losses])}s; failed requests "
          f"{[x[1] for x in losses]}; longest gap {median([x[2] for x in losses])}s")
    print(f"full-stop recovery (lab up + deploy until a token through the VIP): {median(stops)}s")


if __name__ == "__main__":
    main_()
