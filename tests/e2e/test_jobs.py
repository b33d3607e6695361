"""One-off jobs (issue 18 part 2) on the real engine: an environment without AWS (its state store in
SQLite) whose stack runs a job before its ``app`` service changes, with images built here and pushed
to the sandbox registry. The job runs with the service's image, configuration and networks (it reaches
``db``, which ``app`` depends on, and sees ``app``'s environment), once per configuration: not again on
the next apply nor when only another service changes, again when ``app``'s image changes. A job that
fails or hangs past its timeout stops the stack before ``app`` changes, through the CLI: exit 1, the
reason naming the job and its exit code, no job container left behind, another stack changed all the
same. An apply killed (-9) while its job runs leaves no record: the next apply removes the container
left behind and runs it again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from drivers.worldkit import PushedImage, build_and_push, delete_from_registry, remove_image_refs, remove_project, uid

from reconciler import app
from reconciler.core.events import Event
from reconciler.core.model import COMPOSE_PROJECT, COMPOSE_SERVICE, JOB_KEY
from reconciler.drivers.state.sqlite import SqliteStateStore
from reconciler.executor import ApplyReport
from reconciler.sandbox import layout

pytestmark = pytest.mark.world

ENVIRONMENT = """\
apiVersion: reconciler.dev/v1alpha1
kind: Environment
metadata:
  name: {name}
spec:
  docker: {{host: "{docker_host}"}}
  registry: {{url: {registry}, insecure: true}}
  ownership: {name}
"""
IMAGES = """\
apiVersion: reconciler.dev/v1alpha1
kind: Images
metadata:
  name: images
spec:
  images:
    app: {{repository: {repository}, tag: "{tag}"}}
    db: {{repository: {repository}, tag: "{db_tag}"}}
    side: {{repository: {repository}, tag: "{side_tag}"}}
"""
STACK = """\
apiVersion: reconciler.dev/v1alpha1
kind: ComposeStack
metadata:
  name: site
spec:
  composeFile: compose.yaml
  project: {name}
  services:
    app: {{image: app}}
    db: {{image: db}}
  jobs:
    migrate:
      service: app
      command: {command}
      before: [app]
      timeout: {timeout}
"""
SIDE_STACK = """\
apiVersion: reconciler.dev/v1alpha1
kind: ComposeStack
metadata:
  name: side
spec:
  composeFile: side.yaml
  project: {name}-side
  services:
    web: {{image: side}}
"""
SIDE_COMPOSE = """\
services:
  web:
    image: placeholder:1
    command: ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]
"""
COMPOSE = """\
services:
  db:
    image: placeholder:1
    command: ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]
    healthcheck:
      test: ["CMD", "/bin/wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health"]
      interval: 1s
      timeout: 2s
      retries: 30
  app:
    image: placeholder:1
    command: ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]
    environment:
      RELEASE: {release}
    volumes:
      - {runs}:/runs
    depends_on:
      db: {{condition: service_healthy}}
"""
#: appends a line to the bind-mounted runs file (the image's marker and app's RELEASE), after checking
#: that db answers on the project's network
MIGRATE = ('["sh", "-c", "wget -q -O /dev/null http://db:8080/health && echo db is up; '
           'echo migrating to $RELEASE; echo $(cat /marker) $RELEASE >> /runs/log"]')  # fmt: skip


@dataclass
class JobEnv:
    name: str
    root: Path
    state_dir: Path
    runs: Path
    image: PushedImage
    values: dict[str, str]

    def write(
        self, *, command: str = MIGRATE, timeout: str = "30s", release: str = "one", tag: str = "1", db_tag: str = "1",
        side_tag: str | None = None,
    ) -> None:  # fmt: skip
        """The environment's files; with ``side_tag`` a second stack, ``side``, with one service and no job."""
        values = {**self.values, "command": command, "timeout": timeout, "release": release, "tag": tag,
                  "db_tag": db_tag, "side_tag": side_tag or "1"}  # fmt: skip
        files = [("environment.yaml", ENVIRONMENT), ("images.yaml", IMAGES), ("stack.yaml", STACK),
                 ("compose.yaml", COMPOSE)]  # fmt: skip
        if side_tag is not None:
            files += [("side-stack.yaml", SIDE_STACK), ("side.yaml", SIDE_COMPOSE)]
        for file, template in files:
            (self.root / file).write_text(template.format(**values))

    def apply(self) -> tuple[app.PlanResult, ApplyReport | None]:
        events: list[Event] = []
        ctx = app.open_environment(self.root, layout.overrides(state_dir=self.state_dir), read_only=False,
                                   on_event=events.append)  # fmt: skip
        try:
            planned = ctx.plan()
            return planned, ctx.apply(planned.plan) if planned.plan.has_changes else None
        finally:
            ctx.close()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
        argv = [sys.executable, "-m", "reconciler.cli", *args, str(self.root), "--state-dir", str(self.state_dir)]
        return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600,
                              check=False, env={**environ, "NO_COLOR": "1"})  # fmt: skip

    def log(self) -> list[str]:
        path = self.runs / "log"
        return path.read_text().splitlines() if path.exists() else []


@pytest.fixture()
def jobenv(sandbox, docker_api: docker.APIClient, tmp_path: Path) -> Iterator[JobEnv]:  # type: ignore[no-untyped-def]
    image = build_and_push(docker_api, sandbox.registry, f"test-{uid()}/jobs", ("1", "2"))
    name = f"jobs-{uid()}"
    root, runs = tmp_path / "env", tmp_path / "runs"
    root.mkdir()
    runs.mkdir()
    values = {"name": name, "docker_host": sandbox.docker_host, "registry": sandbox.registry,
              "repository": image.repository, "runs": str(runs)}  # fmt: skip
    env = JobEnv(name, root, tmp_path / "state", runs, image, values)
    env.write()
    yield env
    remove_project(docker_api, name)
    remove_project(docker_api, f"{name}-side")
    remove_image_refs(docker_api, image)
    delete_from_registry(image)


def _kinds(planned: app.PlanResult) -> list[tuple[str, str]]:
    return [(a.kind, a.address) for a in planned.plan.actions if a.kind in ("run_job", "create_service",
                                                                             "recreate_service")]  # fmt: skip


def _running(api: docker.APIClient, project: str) -> dict[str, str]:
    found = api.containers(all=True, filters={"label": f"{COMPOSE_PROJECT}={project}"})
    return {c["Labels"][COMPOSE_SERVICE]: c["Image"] for c in found if c["Labels"].get(JOB_KEY) is None}


def _job_containers(api: docker.APIClient, project: str) -> list[str]:
    return [c["Id"] for c in api.containers(all=True, filters={"label": [f"{COMPOSE_PROJECT}={project}",
                                                                           f"{JOB_KEY}=migrate"]})]  # fmt: skip


def test_a_job_runs_once_before_its_service_and_again_only_for_a_new_configuration(
    jobenv: JobEnv, docker_api: docker.APIClient
) -> None:
    planned, report = jobenv.apply()
    assert _kinds(planned) == [("create_service", "service:default/site/db"), ("run_job", "job:site/migrate"),
                               ("create_service", "service:default/site/app")]  # fmt: skip
    assert report is not None and report.ok, report
    result = report.result("job:site/migrate")
    assert result is not None and result.status == "done"
    assert "job migrate exited 0" in result.message and "db is up" in result.message
    assert "migrating to one" in result.message, "the job runs with the service's environment"
    assert jobenv.log() == [f"{jobenv.image.repository}:1 one"]
    assert _job_containers(docker_api, jobenv.name) == [], "the job's container is removed"
    store = SqliteStateStore.in_state_dir(jobenv.state_dir)
    [record] = store.job_records(jobenv.name)
    assert (record.stack, record.job, record.host) == ("site", "migrate", "default")
    assert "migrating to one" in record.output

    # nothing changed: no job; db alone changes (its image): still no job, its reason says why
    again, nothing = jobenv.apply()
    assert not again.plan.has_changes and nothing is None
    jobenv.write(db_tag="2")
    db_only, report = jobenv.apply()
    assert _kinds(db_only) == [("recreate_service", "service:default/site/db")]
    reasons = {u.address: u.reason for u in db_only.plan.unchanged}
    assert reasons["job:site/migrate"] == "not needed: app not created or recreated"
    assert report is not None and report.ok and jobenv.log() == [f"{jobenv.image.repository}:1 one"]

    # app's image changes: the job runs again, before app, with the new image
    jobenv.write(tag="2", db_tag="2")
    bumped, report = jobenv.apply()
    assert _kinds(bumped) == [("run_job", "job:site/migrate"), ("recreate_service", "service:default/site/app")]
    assert report is not None and report.ok, report
    assert jobenv.log() == [f"{jobenv.image.repository}:1 one", f"{jobenv.image.repository}:2 one"]
    assert _running(docker_api, jobenv.name)["app"] == jobenv.image.pinned("2")
    assert len(store.jobs_done(jobenv.name)) == 2
    # the history of the CLI's applies is recorded by the CLI; the state store holds both runs
    final, nothing = jobenv.apply()
    assert not final.plan.has_changes and nothing is None


def test_a_failing_job_stops_its_stack_before_the_service_changes(jobenv: JobEnv, docker_api: docker.APIClient) -> None:
    jobenv.write(side_tag="1")
    first = jobenv.cli("apply", "--auto-approve")
    assert first.returncode == 0, first.stdout + first.stderr
    before = _running(docker_api, jobenv.name)
    assert _running(docker_api, f"{jobenv.name}-side") == {"web": jobenv.image.pinned("1")}
    failing = '["sh", "-c", "echo step 1 done; echo step 2: table locked >&2; exit 3"]'
    jobenv.write(tag="2", side_tag="2", command=failing)
    failed = jobenv.cli("apply", "--auto-approve")
    out = failed.stdout + failed.stderr
    assert failed.returncode == 1, out
    assert "job migrate exited 3" in out and "step 2: table locked" in out, out
    assert "not done: stack site on host default stopped: job migrate did not succeed" in out, out
    assert "Traceback" not in out
    assert _running(docker_api, jobenv.name) == before, "app is not changed"
    assert _running(docker_api, f"{jobenv.name}-side") == {"web": jobenv.image.pinned("2")}, "other stacks go on"
    assert _job_containers(docker_api, jobenv.name) == []
    # the failure is in the environment's history, with the job's output
    shown = jobenv.cli("history")
    assert shown.returncode == 0 and "job:site/migrate: job migrate exited 3" in shown.stdout, shown.stdout
    # not recorded as done: the next apply runs it again
    replanned = jobenv.cli("plan")
    assert replanned.returncode == 0 and "job:site/migrate" in replanned.stdout, replanned.stdout


def test_a_job_past_its_timeout_is_killed_and_its_container_removed(
    jobenv: JobEnv, docker_api: docker.APIClient
) -> None:
    first = jobenv.cli("apply", "--auto-approve")
    assert first.returncode == 0, first.stdout + first.stderr
    before = _running(docker_api, jobenv.name)
    jobenv.write(tag="2", timeout="2s", command='["sh", "-c", "echo waiting for a lock; sleep 300"]')
    hung = jobenv.cli("apply", "--auto-approve")
    out = hung.stdout + hung.stderr
    assert hung.returncode == 1, out
    assert "job migrate did not finish within 2s: killed, its container removed" in out, out
    assert "waiting for a lock" in out, out
    assert _job_containers(docker_api, jobenv.name) == [], "nothing left running"
    assert _running(docker_api, jobenv.name) == before


def test_a_job_cut_off_by_a_crash_runs_again_on_the_next_apply(jobenv: JobEnv, docker_api: docker.APIClient) -> None:
    # the job waits while /runs/hold exists: the apply is killed (-9) while it runs
    (jobenv.runs / "hold").write_text("")
    jobenv.write(command='["sh", "-c", "echo started; while [ -f /runs/hold ]; do sleep 0.2; done; '
                         'echo $RELEASE >> /runs/log"]')  # fmt: skip
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    argv = [sys.executable, "-m", "reconciler.cli", "apply", str(jobenv.root), "--state-dir", str(jobenv.state_dir),
            "--auto-approve"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            env={**environ, "NO_COLOR": "1"}, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not _job_containers(docker_api, jobenv.name):
            assert proc.poll() is None and time.monotonic() < deadline, "the job never started"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert _job_containers(docker_api, jobenv.name), "the crash left the job's container"
    assert SqliteStateStore.in_state_dir(jobenv.state_dir).jobs_done(jobenv.name) == frozenset()
    assert "app" not in _running(docker_api, jobenv.name), "the crash came before app"

    (jobenv.runs / "hold").unlink()  # the left container may now finish too: the job is safe to repeat
    again = jobenv.cli("apply", "--auto-approve")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "job migrate exited 0" in again.stdout + again.stderr
    assert _job_containers(docker_api, jobenv.name) == []
    assert len(SqliteStateStore.in_state_dir(jobenv.state_dir).jobs_done(jobenv.name)) == 1
    assert "app" in _running(docker_api, jobenv.name)
