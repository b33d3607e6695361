"""Instance rotation over the sandbox's fleet (issue 15): a new launch template version rotating N instances
one at a time under the launch hook, against its floor.

A copy of environments/prod of the bench's own (as the rollout section's) with ``launchHook`` is
applied to popcon-prod-asg scaled to N (untimed); version 2 of the sandbox's launch template is made,
the copy set to it and applied: that apply is timed from its event lines. The rotation's span runs
from the first instance starting to leave to the last replacement reported healthy (its rotate
step done). Its floor sums over the batches: the drain (the target group's deregistration delay),
the launch (how long the group takes from TerminateInstanceInAutoScalingGroup to a new instance
whose engine answers over ssh, measured apart with a 0.2 s poll on one scale-out), the converge of
the replacement (the run's own stack step on it, the longest of the batch) and the load balancer's
time to put a target in service (its registration delay and healthy threshold x check interval).
Target: at most 1.2 x the floor. Then back to version 1, timed the same way.

The group is put back as ``sandbox up`` made it however the section ends: version 1 on the group
and its instances, desired 2, no launch hook.

    python -m tests.bench --only rotation [--rotation-sizes 2,3]
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from reconciler.sandbox.fleet.layout import GROUP
from tests.bench import rollout_timing as timing
from tests.bench.fleetgroup import EXTERNAL, SECRET_ENV, Group, Timed, cli, client, write_prod_env
from tests.bench.popcon import edit
from tests.bench.report import Report, seconds
from tests.bench.rollout import _clear
from tests.bench.world import Sandbox, delete_path, put_parameters

RATIO = 1.2
HOOK = "reconciler-launch"
POLL = 0.2


def _versions(group: Group) -> dict[str, tuple[str, str]]:
    asg = client(group.info, "autoscaling")
    found = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP.name])["AutoScalingGroups"][0]
    return {i["InstanceId"]: (i["LifecycleState"], i.get("LaunchTemplate", {}).get("Version", "")) for i in
            found["Instances"]}  # fmt: skip


def _launch(group: Group) -> float:
    """Seconds from a new instance asked for to its engine answering over ssh (one scale-out by one, the
    launch hook holding it; then terminated, decrementing)."""
    asg = client(group.info, "autoscaling")
    before = set(_versions(group))
    desired = len(before)
    started = time.monotonic()
    asg.set_desired_capacity(AutoScalingGroupName=GROUP.name, DesiredCapacity=desired + 1)
    new = ""
    while time.monotonic() - started < 300:
        fresh = set(_versions(group)) - before
        if fresh:
            new = fresh.pop()
            with contextlib.suppress(Exception):
                if group.engine_answers(new):
                    break
        time.sleep(POLL)
    took = time.monotonic() - started
    if new:
        asg.terminate_instance_in_auto_scaling_group(InstanceId=new, ShouldDecrementDesiredCapacity=True)
    else:
        asg.set_desired_capacity(AutoScalingGroupName=GROUP.name, DesiredCapacity=desired)
    deadline = time.monotonic() + 120
    while new in _versions(group) and time.monotonic() < deadline:
        time.sleep(0.5)
    if not new or took >= 300:
        raise RuntimeError("the group launched no instance with an engine within 300 s")
    return took


def _scale(group: Group, n: int, timeout: float = 180.0) -> None:
    """``n`` instances, each engine answering (a new one held by the launch hook until an apply converges it)."""
    if n > GROUP.max_size:
        client(group.info, "autoscaling").update_auto_scaling_group(AutoScalingGroupName=GROUP.name, MaxSize=n)
    client(group.info, "autoscaling").set_desired_capacity(AutoScalingGroupName=GROUP.name, DesiredCapacity=n)
    deadline = time.monotonic() + timeout
    while len(found := _versions(group)) != n or not all(group.engine_answers(i) for i in found):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the group did not reach {n} instances with engines within {timeout:g} s")
        time.sleep(0.5)


def _rotation(lines: list[timing.Line], plan_text: str, launch: float, floor: timing.Floor) -> tuple[float, float]:
    """(span, floor) of the rotation in one run's lines."""
    start = timing.first(lines, r"^instance:\S+/leave: leaving")
    end = timing.last(lines, r"^instance:i-[0-9a-f]+: done")
    if start is None or end is None:
        raise RuntimeError("no rotation in the run (no leave started, or no replacement done)")
    numbers = timing.batches_of(plan_text)
    converges = timing.recreates(lines)  # the replacements' stack steps (the replaced ones have none)
    per_batch = max(len(set(numbers.values())), 1)
    ordered = sorted(converges.values(), reverse=True)
    total = sum(floor.drain + launch + c + floor.health for c in ordered[:per_batch])
    return end - start, total


def _apply(root: Path, state: Path, environ: dict[str, str]) -> Timed:
    return cli(["apply", str(root), "--sandbox", "--state-dir", str(state), "--auto-approve"], environ)


def _set_version(root: Path, version: str) -> None:
    def change(docs: list[Any]) -> None:
        spec = docs[0]["spec"]
        spec["hosts"]["web"]["launchTemplate"] = {"name": GROUP.template, "version": version}
        spec["rollout"]["launchHook"] = {"timeout": "5m"}

    edit(root / "environment.yaml", change)


def _restore(group: Group, root: Path, state: Path, environ: dict[str, str]) -> None:
    _set_version(root, "1")
    _apply(root, state, environ).wait()
    asg = client(group.info, "autoscaling")
    hooks = asg.describe_lifecycle_hooks(AutoScalingGroupName=GROUP.name)["LifecycleHooks"]
    if any(h["LifecycleHookName"] == HOOK for h in hooks):
        asg.delete_lifecycle_hook(AutoScalingGroupName=GROUP.name, LifecycleHookName=HOOK)


def run(report: Report, sandbox: Sandbox, work: Path, *, sizes: list[int], cleanup: contextlib.ExitStack) -> None:
    report.section("rotation", f"a new launch template version over N = {', '.join(map(str, sizes))} instances "
                               "(launch hook, batch 1) against its floor")  # fmt: skip
    if not sandbox.info.load_balancer:
        report.line("the sandbox runs no fleet (RECONCILER_SANDBOX_FLEET=0?): skipped")
        return
    uid = uuid.uuid4().hex[:6]
    work.mkdir(parents=True, exist_ok=True)
    cleanup.callback(shutil.rmtree, work, True)
    group = Group(sandbox.info)
    env = write_prod_env(work / "prod", uid)
    put_parameters(sandbox.ssm, {f"{env.prefix}/{k}": ("SecureString", secrets.token_hex(8)) for k in EXTERNAL})
    cleanup.callback(delete_path, sandbox.ssm, env.prefix)
    cleanup.callback(group.restore)
    cleanup.callback(_clear, group, env.project)  # after the rotation back: the copy's containers go
    state, environ = work / "state", {SECRET_ENV: "bench-" + secrets.token_hex(6)}
    cleanup.callback(_restore, group, env.root, state, environ)
    ec2 = client(sandbox.info, "ec2")
    numbers = {v["VersionNumber"] for v in ec2.describe_launch_template_versions(
        LaunchTemplateName=GROUP.template)["LaunchTemplateVersions"]}  # fmt: skip
    if 2 not in numbers:
        ec2.create_launch_template_version(LaunchTemplateName=GROUP.template, SourceVersion="1",
                                           LaunchTemplateData={"ImageId": "ami-12c6146b"})  # fmt: skip
    floor = group.floor()
    _set_version(env.root, "1")
    for n in sizes:
        _scale(group, n)
        code, out = _apply(env.root, state, environ).wait()  # converged on version 1, the hook made
        if code != 0:
            raise RuntimeError(f"apply exited {code}:\n{out[-3000:]}")
        launch = _launch(group)
        report.line(f"N={n}: launch floor {seconds(launch)} (a new instance to its engine answering); per batch "
                    f"drain {floor.drain:g} s + launch + converge + {floor.health:g} s in service")  # fmt: skip
        for version in ("2", "1"):
            _set_version(env.root, version)
            timed = _apply(env.root, state, environ)
            code, out = timed.wait()
            if code != 0:
                raise RuntimeError(
                    f"rotation to {version} exited {code}:\n" + "\n".join(t for _, t in timed.lines[-20:])
                )
            span, total = _rotation(timed.lines, out, launch, floor)
            on = {v for _, v in _versions(group).values()}
            report.line(f"N={n} to version {version}: rotation {seconds(span)}, floor {seconds(total)}, ratio "
                        f"{span / total:.2f} (instances now on {', '.join(sorted(on))})")  # fmt: skip
            report.target(f"rotating {n} instances (to version {version}) vs its floor", f"{span / total:.2f} x",
                          f"<= {RATIO}", span / total <= RATIO and on == {version})  # fmt: skip
