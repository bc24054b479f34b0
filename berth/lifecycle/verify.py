"""`berth verify`: OpenStack's tempest, from berth's `tempest` image, run once against the deployed cloud.

The container is a one-shot on this host (host network, like every berth container): berth writes its config
directory (tempest.conf with the admin password, mode 0600, copied into place as the `tempest` user's), starts it,
follows its output (one JSON line per test, see the service folder's berth-tempest-run.py), and removes it. The
results land in `<state_dir>/<deployment>/verify/<UTC time>/`: results.json (every test, its outcome, seconds and
reason) and summary.json, with every secret of passwords.yml masked.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from berth.config.loader import Config
from berth.config.passwords import mask, secret_values
from berth.engine import labels
from berth.engine.base import ContainerInfo, Engine, doing
from berth.errors import BerthError, EngineError, EngineNotFound
from berth.lifecycle.init_runonce import check_deployed
from berth.lifecycle.verify_conf import tempest_conf
from berth.lifecycle.verify_discover import cloud_facts
from berth.lifecycle.verify_results import Summary, Tally, TestResult, results_json, summary
from berth.private import write_private
from berth.services.registry import service_dirs

IMAGE = "tempest"
RUNNER = "berth-tempest-run.py"
CONFIG_MOUNT = "/var/lib/berth/config"
CONTAINER = "tempest-verify"
POLL_S = 2.0
Progress = Callable[[str], None]
OnTest = Callable[[Tally, TestResult | None], None]


@dataclass(frozen=True)
class Exclusion:
    """A test berth leaves out, and why (berth/services/tempest/exclusions.yml)."""

    test: str  # a regex over test ids
    why: str


def exclusions(release: str) -> list[Exclusion]:
    """The release's known exclusions and those of every release; a malformed file fails naming it."""
    path = service_dirs()[IMAGE] / "exclusions.yml"
    data = yaml.safe_load(path.read_text()) or {}
    try:
        return [Exclusion(str(e["test"]), " ".join(str(e["why"]).split()))
                for key in ("all", release) for e in data.get(key) or []]
    except (KeyError, TypeError) as exc:
        raise BerthError(f"{path}: every entry needs `test` and `why` ({exc})") from exc


@dataclass(frozen=True)
class Selection:
    """Which tests: tempest's smoke set, a regex, or everything (hours); `exclude` is a regex left out."""

    smoke: bool = False
    regex: str | None = None
    exclude: str | None = None

    def excluding(self, known: list[Exclusion]) -> Selection:
        """This selection with berth's known exclusions added to the operator's own."""
        patterns = ([self.exclude] if self.exclude else []) + [e.test for e in known]
        return Selection(self.smoke, self.regex, "|".join(f"(?:{p})" for p in patterns) or None)

    def args(self) -> list[str]:
        chosen = ["--smoke"] if self.smoke else ["--regex", self.regex] if self.regex else []
        return chosen + (["--exclude-regex", self.exclude] if self.exclude else [])

    def describe(self) -> str:
        chosen = "--smoke" if self.smoke else f"--regex {self.regex}" if self.regex else "(all tests)"
        return chosen + (f" --exclude-regex {self.exclude}" if self.exclude else "")


def verify_dir(config: Config) -> Path:
    """Where the runs' results are kept (one folder per run, named by its UTC start time)."""
    return config.deployment_dir / "verify"


def container_config_dir(config: Config) -> Path:
    """Beside the deployment's other containers' config directories (same protection: 0700, root only)."""
    return config.deployment_dir / "config" / CONTAINER


def config_files(conf: str, cacert: str | None, selection: Selection, concurrency: int) -> dict[str, str]:
    """The container's config directory: config.json (the image contract), tempest.conf, the runner, the CA."""
    files = [{"source": "tempest.conf", "dest": "/etc/tempest/tempest.conf", "owner": "tempest", "mode": "0600"},
             {"source": RUNNER, "dest": f"/usr/local/lib/berth/{RUNNER}", "owner": "root", "mode": "0755"}]
    contents = {"tempest.conf": conf, RUNNER: (service_dirs()[IMAGE] / "templates" / RUNNER).read_text()}
    if cacert:
        files.append({"source": "ca.crt", "dest": "/etc/tempest/ca.crt", "owner": "tempest", "mode": "0644"})
        contents["ca.crt"] = Path(cacert).read_text()
    directories = [{"path": "/var/lib/tempest", "owner": "tempest", "mode": "0700", "recurse": True}]
    command = ["python3", f"/usr/local/lib/berth/{RUNNER}", str(concurrency), *selection.args()]
    config_json = {"command": command, "user": "tempest", "files": files, "directories": directories}
    return {"config.json": json.dumps(config_json, indent=1), **contents}


def container_name(config: Config) -> str:
    return f"{config.globals.deployment_name}-{CONTAINER}"


def refuse_concurrent_run(engine: Engine, config: Config) -> None:
    """One run per deployment: a second would share the container name and tempest's resource names."""
    name = container_name(config)
    with doing("looking for a running `berth verify`"):
        earlier = engine.container(name)
    if earlier is not None and earlier.running:
        raise BerthError(f"another `berth verify` of deployment `{config.globals.deployment_name}` is running "
                         f"(container {name})", hint=f"wait for it to finish, or stop it: `docker rm -f {name}`")


def _start(engine: Engine, config: Config, config_dir: Path) -> ContainerInfo:
    from berth.lifecycle.render import image_ref
    from berth.run.actions import ensure_image, remove

    name = container_name(config)
    ref = image_ref(config, IMAGE)
    ensure_image(engine, ref, lambda _m: None)
    remove(engine, name)  # an interrupted earlier run's (a running one was refused before)
    spec = {"image": ref, "network_mode": "host", "volumes": [f"{config_dir}:{CONFIG_MOUNT}:ro"], "restart": "no"}
    tags = {labels.DEPLOYMENT: config.globals.deployment_name, labels.SERVICE: IMAGE, labels.CONTAINER: CONTAINER,
            labels.ROLE: "oneshot", labels.MANAGED: "true"}
    with doing("starting the tempest container"):
        container = engine.create_container(name, spec, tags)
        engine.start(container.id)
    return container


def _follow(engine: Engine, container: ContainerInfo, tally: Tally, on_test: OnTest, timeout: float) -> None:
    """Fold the container's output lines into `tally` as they come, until it exits (stopped after `timeout`)."""
    deadline, seen = time.monotonic() + timeout, 0
    while True:
        state = engine.container(container.id)
        lines = engine.logs(container.id).split("\n")[:-1]  # whole lines only: the last may be half written
        for line in lines[seen:]:
            on_test(tally, tally.add(line))
        seen = len(lines)
        if state is None or not state.running:
            return
        if time.monotonic() > deadline:
            engine.stop(container.id, 10)
            raise BerthError(f"tempest did not finish within {timeout:.0f}s (stopped)",
                             hint="narrow the selection (--smoke, --regex) or raise --timeout")
        time.sleep(POLL_S)


def _save(tally: Tally, result: Summary, secrets: list[str]) -> None:
    folder = Path(result.results_dir)
    write_private(folder / "results.json", mask(results_json(tally), secrets))
    write_private(folder / "summary.json", mask(json.dumps(result.as_dict(), indent=1) + "\n", secrets))


def _results_folder(config: Config) -> Path:
    root = verify_dir(config)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = root / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder.mkdir(mode=0o700)
    return folder


def _run_container(engine: Engine, config: Config, tally: Tally, on_test: OnTest, timeout: float) -> None:
    from berth.run.actions import remove

    container = _start(engine, config, container_config_dir(config))
    try:
        _follow(engine, container, tally, on_test, timeout)
    finally:
        try:
            remove(engine, container.id)
        except (EngineError, EngineNotFound):
            pass


def run_verify(config: Config, engine: Engine, selection: Selection, concurrency: int = 2,
               timeout: float = 7200, known: list[Exclusion] | None = None, progress: Progress = lambda _m: None,
               on_test: OnTest = lambda _t, _r: None) -> Summary:
    """Configure tempest from the cloud, run it, save and return the summary (failures masked of secrets).

    `known`: tests left out with their reasons (exclusions.yml), printed before the run and kept in the summary.
    """
    from berth.run.actions import write_config_dir

    if concurrency < 1:
        raise BerthError(f"--concurrency {concurrency}: must be at least 1")
    check_deployed(config)
    refuse_concurrent_run(engine, config)
    progress("asking the cloud what it offers (catalog, versions, extensions, image, flavors, networks)")
    facts, creds, cacert = cloud_facts(config, progress)
    secrets = sorted({creds.password, *secret_values(config.passwords)})
    conf = tempest_conf(facts, creds)
    write_config_dir(container_config_dir(config),
                     config_files(conf, cacert, selection.excluding(known or []), concurrency))
    progress(f"running tempest {selection.describe()} with concurrency {concurrency}")
    for item in known or []:
        progress(f"  left out: {item.test} — {item.why}")
    folder, tally, start = _results_folder(config), Tally(), time.monotonic()
    try:
        _run_container(engine, config, tally, on_test, timeout)
    except BaseException:
        folder.rmdir()  # an interrupted run leaves no empty results folder behind
        raise
    if tally.exit_code is None:
        folder.rmdir()
        tail = [mask(line, secrets) for line in tally.other[-15:]]
        raise BerthError("the tempest container ended without finishing its run", details=tail,
                         hint=f"see the lines above; tempest.conf is in {container_config_dir(config)}")
    result = summary(tally, selection.describe(), time.monotonic() - start, str(folder),
                     [asdict(e) for e in known or []])
    result.failures[:] = [{**f, "reason": mask(f["reason"], secrets)} for f in result.failures]
    _save(tally, result, secrets)
    return result
