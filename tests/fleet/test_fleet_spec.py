"""The fleet's spec: hosts fromAutoScalingGroup and spec.rollout, read into the desired state, and every
wrong value a ``file:line: field: message`` error (no AWS or Docker involved: spec reading is pure)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reconciler.core.errors import SpecError
from reconciler.core.fleet import Amount, format_duration, parse_duration
from reconciler.spec.desired import build_desired
from reconciler.spec.loader import load_environment

PROD = Path(__file__).resolve().parents[2] / "environments" / "prod"

FLEET_ENV = """\
apiVersion: reconciler.dev/v1alpha1
kind: Environment
metadata:
  name: prod
spec:
  aws:
    region: ap-northeast-2
  parameterPrefix: /popcon/prod
  registry:
    type: ecr
    accountId: "123456789012"
  hosts:
    web:
      fromAutoScalingGroup: popcon-prod-asg
      docker: ssh://ec2-user@{privateIp}
      variables: {FRONTEND_PORT: "3000"}
  rollout:
    batch: BATCH
    minHealthy: 1
    loadBalancer:
      targetGroups: [TARGET_GROUP]
      drainTimeout: 30s
    healthCheck: {service: SERVICE, path: /health, port: 3000, interval: 10s, attempts: 30}
    alarms: [popcon-prod-5xx, popcon-prod-unhealthy-hosts]
    bake: 2m
"""
GOOD_TG = "arn:aws:elasticloadbalancing:ap-northeast-2:123456789012:targetgroup/popcon-prod-tg/0123456789abcdef"


def make_env(tmp_path: Path, text: str) -> Path:
    env = tmp_path / "prod"
    shutil.copytree(PROD, env)
    (env / "environment.yaml").write_text(text, encoding="utf-8")
    stack = (env / "stack.yaml").read_text(encoding="utf-8").replace("hosts: [web-1, web-2]", "hosts: [web]")
    (env / "stack.yaml").write_text(stack, encoding="utf-8")
    return env


def fleet_env(batch: str = "1", tg: str = GOOD_TG, service: str = "frontend") -> str:
    return FLEET_ENV.replace("BATCH", batch).replace("TARGET_GROUP", tg).replace("SERVICE", service)


def test_a_fleet_is_read_into_the_desired_state(tmp_path: Path) -> None:
    loaded = load_environment(make_env(tmp_path, fleet_env('"50%"')))
    desired = build_desired(loaded, {"POPCON_PROD_DB_PASSWORD": "s3cret"}.get)
    (web,) = desired.hosts
    assert web.name == "web" and web.docker_host is None and web.fleet is not None
    assert web.fleet.group == "popcon-prod-asg"
    assert web.fleet.docker_url("i-1", "10.90.1.5", "ip-10-90-1-5") == "ssh://ec2-user@10.90.1.5"
    assert desired.fleets == (web,)
    assert desired.stacks[0].hosts == ("web",)
    rollout = desired.rollout
    assert rollout.batch == Amount(50, percent=True)
    assert rollout.batch_size(4) == 2 and rollout.batch_size(3) == 2 and rollout.batch_size(1) == 1
    assert rollout.min_in_service(4) == 1
    assert rollout.target_groups == (GOOD_TG,)
    assert rollout.drain_timeout == 30.0 and rollout.bake == 120.0
    assert rollout.health_check is not None and rollout.health_check.attempts == 30
    assert rollout.health_check.interval == 10.0 and rollout.health_check.port == 3000
    assert rollout.alarms == ("popcon-prod-5xx", "popcon-prod-unhealthy-hosts")


def test_defaults_are_one_at_a_time(tmp_path: Path) -> None:
    text = fleet_env().split("  rollout:")[0]
    desired = build_desired(load_environment(make_env(tmp_path, text)), {"POPCON_PROD_DB_PASSWORD": "x"}.get)
    rollout = desired.rollout
    assert rollout.batch_size(3) == 1 and rollout.min_in_service(3) == 2
    assert rollout.auto_rollback and rollout.health_check is None and rollout.drain_timeout is None


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("batch: 1", "batch: 0"), "environment.yaml:18: spec.rollout.batch: 0 is too small: at least 1"),
        (("batch: 1", 'batch: "150%"'), "spec.rollout.batch: '150%' is out of range"),
        (("batch: 1", 'batch: "half"'), "spec.rollout.batch: 'half' is not a count or a percent"),
        (("batch: 1", "batch: true"), "spec.rollout.batch: must be a count or a percent"),
        (
            ("{privateIp}", "{privateIP}"),
            "environment.yaml:15: spec.hosts.web.docker: 'ssh://ec2-user@{privateIP}': unknown placeholder {privateIP}",
        ),
        (
            (GOOD_TG, "arn:aws:elasticloadbalancing:ap-northeast-2:123:targetgroup/x"),
            "environment.yaml:21: spec.rollout.loadBalancer.targetGroups[0]: 'arn:aws:elasticloadbalancing:"
            "ap-northeast-2:123:targetgroup/x' is not a target group ARN",
        ),
        (("drainTimeout: 30s", "drainTimeout: 30"), "spec.rollout.loadBalancer.drainTimeout"),
        (("drainTimeout: 30s", "drainTimeout: thirty"), "'thirty' is not a duration"),
        (("bake: 2m", "bake: 2 minutes"), "environment.yaml:25: spec.rollout.bake: '2 minutes' is not a duration"),
        (("port: 3000,", "port: 0,"), "spec.rollout.healthCheck.port"),
        (("path: /health", "path: health"), "'health' must start with '/'"),
        (("popcon-prod-5xx,", "popcon:5xx,"), "'popcon:5xx' is not a CloudWatch alarm name"),
        (
            ("fromAutoScalingGroup: popcon-prod-asg", "fromAutoScalingGroup: 'bad:name'"),
            "spec.hosts.web.fromAutoScalingGroup: 'bad:name' is not an Auto Scaling group name",
        ),
        (("  rollout:\n", "  rolout:\n"), "spec.rolout"),
        (
            ("service: SERVICE", "service: nosuch"),
            "environment.yaml:23: spec.rollout.healthCheck.service: service "
            "'nosuch': no stack on a fleet has it (known: backend, frontend, mysql, redis)",
        ),
    ],
)
def test_bad_fleet_values_name_file_line_and_field(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    text = FLEET_ENV.replace("BATCH", "1").replace("TARGET_GROUP", GOOD_TG)
    text = text.replace(*edit).replace("SERVICE", "frontend")
    with pytest.raises(SpecError) as caught:
        load_environment(make_env(tmp_path, text))
    assert expected in str(caught.value)


def test_a_placeholder_needs_a_group(tmp_path: Path) -> None:
    text = fleet_env().replace("      fromAutoScalingGroup: popcon-prod-asg\n", "").split("  rollout:")[0]
    with pytest.raises(SpecError) as caught:
        load_environment(make_env(tmp_path, text))
    assert "placeholders are for entries with fromAutoScalingGroup" in str(caught.value)


def test_rollout_without_a_fleet_is_refused(tmp_path: Path) -> None:
    text = fleet_env().replace("      fromAutoScalingGroup: popcon-prod-asg\n", "").replace("{privateIp}", "10.0.1.1")
    with pytest.raises(SpecError) as caught:
        load_environment(make_env(tmp_path, text))
    assert "rollout is for hosts fromAutoScalingGroup" in str(caught.value)


def test_more_than_ten_alarms_are_refused(tmp_path: Path) -> None:
    alarms = ", ".join(f"a{i}" for i in range(11))
    text = fleet_env().replace("[popcon-prod-5xx, popcon-prod-unhealthy-hosts]", f"[{alarms}]")
    with pytest.raises(SpecError) as caught:
        load_environment(make_env(tmp_path, text))
    assert "11 alarms: at most 10 can gate a rollout" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("2m", 120.0), ("1m30s", 90.0), ("500ms", 0.5), ("1h", 3600.0), ("1.5s", 1.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    if seconds < 1 or seconds.is_integer():  # shown rounded to whole seconds above 1 s
        assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "30", "s", "1x", "1m 30s", "-1s", "1s2"])
def test_not_durations(text: str) -> None:
    assert parse_duration(text) is None


def test_a_fleet_needs_aws(tmp_path: Path) -> None:
    text = fleet_env().split("  rollout:")[0]
    text = text.replace("  aws:\n    region: ap-northeast-2\n", "").replace("  parameterPrefix: /popcon/prod\n", "")
    text = text.replace('  registry:\n    type: ecr\n    accountId: "123456789012"\n', "")
    env = make_env(tmp_path, text)
    for name in ("parameters.yaml",):
        (env / name).unlink()
    stack = (
        (env / "stack.yaml")
        .read_text(encoding="utf-8")
        .replace("  parameterSets: [popcon-config, popcon-secrets]\n", "")
    )
    (env / "stack.yaml").write_text(stack.replace(", environmentFrom: [popcon-config]", ""), encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_environment(env)
    assert "spec.hosts.web.fromAutoScalingGroup: a fleet's instances come from an Auto Scaling group: add aws" in str(
        caught.value
    )


def test_the_fleet_docker_override(tmp_path: Path) -> None:
    from reconciler import app
    from reconciler.app.settings import Overrides
    from reconciler.core.errors import ReconcilerError

    env = make_env(tmp_path, fleet_env())
    settings = app.environment_settings(env, Overrides(fleet_docker="ssh://root@{privateIp}"))
    (web,) = settings.hosts
    assert web.fleet is not None and web.fleet.docker == "ssh://root@{privateIp}"
    assert app.environment_settings(env, Overrides()).hosts[0].fleet == web.fleet.__class__(
        "popcon-prod-asg", "ssh://ec2-user@{privateIp}"
    )
    for bad in ("root@{privateIp}", "ssh://root@{ip}"):
        with pytest.raises(ReconcilerError, match="--fleet-docker"):
            app.environment_settings(env, Overrides(fleet_docker=bad))
