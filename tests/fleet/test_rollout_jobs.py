"""A stack's one-off jobs over a fleet (pure): the job runs once, in the first batch, on the first instance
the rollout changes (an instance out of service goes first, and the job moves with it), before that
instance's services; the other instances of its batch wait for it, later batches follow anyway; a job
that already succeeded for the configuration is not planned again for later instances (scale-out)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fleet.test_fleet_spec import FLEET_ENV, GOOD_TG, make_env
from fleet.test_rollout_plan import fleet_of, instance, world
from reconciler.core.actions import RunJob
from reconciler.core.model import DesiredState
from reconciler.core.plan import Plan
from reconciler.executor.run import _waves
from reconciler.planner import plan
from reconciler.planner.jobs import job_hash
from reconciler.planner.targets import service_targets
from reconciler.spec.desired import build_desired
from reconciler.spec.loader import load_environment

JOBS = """\
  jobs:
    migrate: {service: backend, command: [./migrate.sh], before: [backend], timeout: 5m}
"""


def desired_with_jobs(tmp_path: Path, batch: str = "1") -> DesiredState:
    env = make_env(tmp_path, FLEET_ENV.replace("BATCH", batch).replace("TARGET_GROUP", GOOD_TG)
                   .replace("SERVICE", "frontend"))  # fmt: skip
    stack = env / "stack.yaml"
    stack.write_text(stack.read_text() + JOBS)
    return build_desired(load_environment(env), {"POPCON_PROD_DB_PASSWORD": "s3cret"}.get)


def jobs_of(result: Plan) -> list[tuple[str, RunJob]]:
    return [(u.id, a) for u in result.units for a in u.actions if isinstance(a, RunJob)]


def test_the_job_runs_once_on_the_first_instance_before_the_first_batch_changes(tmp_path: Path) -> None:
    one, two, three = instance(1), instance(2), instance(3)
    result = plan(desired := desired_with_jobs(tmp_path), world(desired, fleet_of([one, two, three])))
    assert not result.problems
    [(unit_id, job)] = jobs_of(result)
    assert unit_id == f"stack:{one.id}/popcon" and job.host == one.id
    unit = result.unit(unit_id)
    assert unit is not None
    kinds = [(a.kind, getattr(a, "service", "")) for a in unit.actions if a.kind != "pull_image"]
    at = kinds.index(("run_job", "backend"))
    assert kinds[at + 1] == ("create_service", "backend"), "just before the service it precedes"
    assert ("create_service", "mysql") in kinds[:at], "after what the backend depends on"
    # later batches come after the first batch's join, which comes after the job's unit
    ids = [u.id for u in result.units]
    assert ids.index(unit_id) < ids.index("rollout:web/2/leave")


def test_the_rest_of_the_first_batch_waits_for_the_job(tmp_path: Path) -> None:
    fleet = [instance(n) for n in range(1, 5)]
    desired = desired_with_jobs(tmp_path, '"50%"')
    result = plan(desired, world(desired, fleet_of(fleet)))
    [(unit_id, _job)] = jobs_of(result)
    assert unit_id == f"stack:{fleet[0].id}/popcon"
    peer = result.unit(f"stack:{fleet[1].id}/popcon")
    assert peer is not None and unit_id in peer.after
    later = result.unit(f"stack:{fleet[3].id}/popcon")
    assert later is not None and unit_id not in later.after and "rollout:web/2/leave" in later.after
    # the executor runs the job's unit alone, then the rest of the batch together
    waves = [[u.id for u in wave] for wave in _waves([u for u in result.units if u.id != "parameters"])]
    assert [unit_id] in waves and [peer.id] in waves
    batch_two = [f"stack:{fleet[2].id}/popcon", f"stack:{fleet[3].id}/popcon"]
    assert batch_two in waves, "later batches still change together"


def test_an_instance_out_of_service_goes_first_and_the_job_with_it(tmp_path: Path) -> None:
    one, two = instance(1), instance(2)
    desired = desired_with_jobs(tmp_path)
    result = plan(desired, world(desired, fleet_of([one, two], states={two.id: "unused"})))
    [(unit_id, job)] = jobs_of(result)
    assert unit_id == f"stack:{two.id}/popcon" and job.host == two.id
    ids = [u.id for u in result.units]
    assert ids.index(unit_id) < ids.index(f"stack:{one.id}/popcon")


def test_a_job_that_succeeded_for_the_configuration_is_not_planned_again(tmp_path: Path) -> None:
    one, two = instance(1), instance(2)
    desired = desired_with_jobs(tmp_path)
    observed = world(desired, fleet_of([one, two]))
    from reconciler.planner import expand_fleets

    expanded = expand_fleets(desired, observed.fleets)
    stack = expanded.stacks[0]
    wanted = {h: service_targets(stack, expanded, observed, h) for h in stack.hosts}
    (job,) = stack.jobs
    done = replace(observed, jobs_done=frozenset({("popcon", "migrate", job_hash(job, wanted))}))
    result = plan(desired, done)
    assert jobs_of(result) == []
    assert {u.address: u.reason for u in result.unchanged}["job:popcon/migrate"].startswith("already succeeded")
    # a third instance (scale-out) has the same configuration: the hash does not change
    three = instance(3)
    grown = world(desired, fleet_of([one, two, three]))
    assert jobs_of(plan(desired, replace(grown, jobs_done=done.jobs_done))) == []
