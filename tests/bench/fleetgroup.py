"""The sandbox's fleet as the rollout bench uses it: moto's group scaled out and back, the target
group's settings, a copy of environments/prod of the bench's own, and CLI runs whose event lines
are timed as they arrive.

The group is put back as ``sandbox up`` made it (desired 2, max 4, its two first instances, the
alarms OK): moto's SetDesiredCapacity scales in the oldest instances, so the ones the bench added
are terminated one by one instead (decrementing the desired capacity).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from reconciler.sandbox.fleet.layout import GROUP, HEALTH_INTERVAL, PROPAGATION_DELAY, TIME_SCALE
from reconciler.sandbox.layout import CREDENTIALS
from reconciler.sandbox.lifecycle import SandboxInfo
from tests.bench.measure import REPO_ROOT
from tests.bench.popcon import edit
from tests.bench.rollout_timing import Floor, Line

PROD = REPO_ROOT / "environments" / "prod"
SECRET_ENV = "POPCON_PROD_DB_PASSWORD"
EXTERNAL = ("DB_USERNAME", "DB_ROOT_PASSWORD")


def client(info: SandboxInfo, service: str) -> Any:
    return boto3.client(service, endpoint_url=info.moto_url, region_name=info.region,  # type: ignore[call-overload]
                        aws_access_key_id=CREDENTIALS[0], aws_secret_access_key=CREDENTIALS[1])  # fmt: skip


@dataclass
class Group:
    """popcon-prod-asg in moto."""

    info: SandboxInfo

    def instances(self) -> list[str]:
        """InService instances, oldest first."""
        asg, ec2 = client(self.info, "autoscaling"), client(self.info, "ec2")
        group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP.name])["AutoScalingGroups"][0]
        ids = [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"]
        found = [
            (str(i["LaunchTime"]), i["InstanceId"])
            for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
            for i in r["Instances"]
            if i["State"]["Name"] == "running"
        ] if ids else []  # fmt: skip
        return [i for _, i in sorted(found)]

    def scale(self, n: int, timeout: float = 180.0) -> list[str]:
        """``n`` InService instances (more: SetDesiredCapacity, MaxSize raised if needed; fewer: the
        newest terminated), each engine answering over ssh."""
        asg = client(self.info, "autoscaling")
        have = self.instances()
        if n > GROUP.max_size:
            asg.update_auto_scaling_group(AutoScalingGroupName=GROUP.name, MaxSize=n)
        for instance in reversed(have[n:]):  # the group deregisters it (the sandbox's AWS front, as on AWS)
            asg.terminate_instance_in_auto_scaling_group(InstanceId=instance, ShouldDecrementDesiredCapacity=True)
        asg.set_desired_capacity(AutoScalingGroupName=GROUP.name, DesiredCapacity=n)
        deadline = time.monotonic() + timeout
        while len(found := self.instances()) != n or not all(self.engine_answers(i) for i in found):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the group did not reach {n} instances with engines within {timeout:g} s")
            time.sleep(0.5)
        return found

    def engine_answers(self, instance: str) -> bool:
        ip = self.address(instance)
        done = subprocess.run(["docker", "-H", f"ssh://root@{ip}", "version", "--format", "{{.Server.Version}}"],
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        return done.returncode == 0

    def address(self, instance: str) -> str:
        found = client(self.info, "ec2").describe_instances(InstanceIds=[instance])["Reservations"]
        return str(found[0]["Instances"][0]["PrivateIpAddress"])

    def restore(self) -> None:
        """Desired 2, max 4, the alarms OK."""
        self.scale(GROUP.desired)
        client(self.info, "autoscaling").update_auto_scaling_group(AutoScalingGroupName=GROUP.name,
                                                                   MaxSize=GROUP.max_size)  # fmt: skip
        cw = client(self.info, "cloudwatch")
        for name in GROUP.alarms:
            cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="bench over")

    def floor(self) -> Floor:
        """The target group's settings, as the sandbox's load balancer runs them."""
        elb = client(self.info, "elbv2")
        tg = elb.describe_target_groups(Names=[GROUP.target_group])["TargetGroups"][0]
        attrs = elb.describe_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"])["Attributes"]
        delay = next(float(a["Value"]) for a in attrs if a["Key"] == "deregistration_delay.timeout_seconds")
        interval = float(tg.get("HealthCheckIntervalSeconds", HEALTH_INTERVAL)) * TIME_SCALE
        return Floor(delay, PROPAGATION_DELAY, int(tg["HealthyThresholdCount"]), interval)


@dataclass(frozen=True)
class ProdEnv:
    root: Path
    prefix: str
    project: str

    def set_tag(self, tag: str) -> None:
        edit(self.root / "images.yaml", lambda docs: docs[0]["spec"]["images"]["frontend"].__setitem__("tag", tag))

    def set_rollout(self, **fields: Any) -> None:
        edit(self.root / "environment.yaml", lambda docs: docs[0]["spec"]["rollout"].update(fields))


def write_prod_env(root: Path, uid: str) -> ProdEnv:
    """environments/prod under names of its own (parameter path, ownership, Compose project), no bake
    (measured apart from the rollout anyway), the health gate every second."""
    shutil.copytree(PROD, root)
    prefix, project = f"/bench-{uid}/popcon/prod", f"bench-{uid}"

    def environment(docs: list[Any]) -> None:
        spec = docs[0]["spec"]
        spec["parameterPrefix"] = prefix
        spec["ownership"] = f"bench-{uid}"
        spec["rollout"]["bake"] = "0s"
        spec["rollout"]["healthCheck"].update(interval="1s", attempts=5)

    def parameters(docs: list[Any]) -> None:
        for doc in docs:
            doc["spec"]["path"] = prefix

    edit(root / "environment.yaml", environment)
    edit(root / "parameters.yaml", parameters)
    edit(root / "stack.yaml", lambda docs: docs[0]["spec"].__setitem__("project", project))
    return ProdEnv(root, prefix, project)


@dataclass
class Timed:
    """One CLI run, its stderr lines timed as they arrive (monotonic seconds), stdout kept."""

    started: float
    proc: subprocess.Popen[str]
    lines: list[Line] = field(default_factory=list)
    out: list[str] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)

    def wait(self, timeout: float = 900) -> tuple[int, str]:
        """The exit code and stdout."""
        code = self.proc.wait(timeout=timeout)
        for reader in self.readers:
            reader.join(timeout=30)
        return code, "".join(self.out)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def wait_for(self, pattern: str, timeout: float = 300) -> float:
        """The arrival time of the first line matching ``pattern`` (regex, searched)."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for t, text in self.lines[seen:]:
                if re.search(pattern, text):
                    return t
            seen = len(self.lines)
            if self.proc.poll() is not None and seen == len(self.lines):
                break
            time.sleep(0.02)
        raise RuntimeError(f"no line matching {pattern!r}:\n" + "\n".join(t for _, t in self.lines[-20:]))


def cli(args: list[str], env: Mapping[str, str]) -> Timed:
    proc = subprocess.Popen([sys.executable, "-m", "reconciler.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, bufsize=1,
                            env={**os.environ, **env, "NO_COLOR": "1"}, start_new_session=True)  # fmt: skip
    run = Timed(time.monotonic(), proc)

    def read_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            run.lines.append((time.monotonic(), line.rstrip("\n")))

    def read_out() -> None:
        assert proc.stdout is not None
        run.out.extend(proc.stdout)

    run.readers = [threading.Thread(target=f, daemon=True) for f in (read_err, read_out)]
    for reader in run.readers:
        reader.start()
    return run
