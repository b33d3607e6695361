"""End to end on the sandbox: environments/dev with its database password in AWS Secrets Manager
(moto), through the composition root on the real engine: applied, rotated (PutSecretValue),
exactly the services that read it recreated with the rotation as the reason, a missing key a
problem that blocks only its stack, and the values in no output and nowhere on disk."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import boto3
import pytest

from e2e.conftest import Env, EnvFactory
from e2e.test_dev import kinds
from reconciler.core.actions import RecreateService
from reconciler.core.secretsmanager import SECRET_VERSIONS_KEY
from reconciler.render import render_json, render_markdown, render_report, render_text
from reconciler.sandbox.lifecycle import SandboxInfo

pytestmark = pytest.mark.world

REGION = "ap-northeast-2"
READERS = {"mysql", "backend"}  # MYSQL_PASSWORD / DB_PASSWORD: ${DB_PASSWORD}


@pytest.fixture()
def secretsmanager(sandbox: SandboxInfo) -> Iterator[object]:
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    client = session.client("secretsmanager", endpoint_url=sandbox.moto_url)
    yield client
    client.close()


def _use_secret(env: Env, secret_id: str, key: str) -> None:
    source = {"fromSecretsManager": {"secretId": secret_id, "key": key}}
    env.copy.edit("ParameterSet", "popcon-secrets", lambda spec: spec["parameters"].__setitem__("DB_PASSWORD", source))


def _env_of(env: Env, service: str) -> list[str]:
    return list(env.api.inspect_container(env.ids()[service])["Config"]["Env"])


def test_a_rotated_secret_recreates_exactly_its_readers(make_env: EnvFactory, secretsmanager) -> None:  # type: ignore[no-untyped-def]
    env = make_env("dev")
    secret_id = f"table-order-{env.copy.uid}/db"
    first_pw, second_pw = f"pw-{secrets.token_hex(8)}", f"pw-{secrets.token_hex(8)}"
    made = secretsmanager.create_secret(  # type: ignore[attr-defined]
        Name=secret_id, SecretString=json.dumps({"username": "app", "password": first_pw})
    )
    try:
        _use_secret(env, secret_id, "password")
        run = env.reconcile()
        assert run.report is not None and run.report.ok, render_report(run.report)
        assert run.plan_calls.aws.count("secretsmanager", "GetSecretValue") == 1  # one secret, one read
        assert run.plan_calls.aws.mutating() == 0 and run.apply_calls.aws.count("secretsmanager") == 0
        assert f"DB_PASSWORD={first_pw}" in _env_of(env, "backend")
        assert f"MYSQL_PASSWORD={first_pw}" in _env_of(env, "mysql")
        labels = env.containers()["backend"]["Labels"]
        assert isinstance(labels, dict)
        assert json.loads(labels[SECRET_VERSIONS_KEY]) == {secret_id: made["VersionId"]}
        assert SECRET_VERSIONS_KEY not in env.containers()["redis"]["Labels"]  # type: ignore[operator]
        before = env.ids()

        rotated = secretsmanager.put_secret_value(  # type: ignore[attr-defined]
            SecretId=secret_id, SecretString=json.dumps({"username": "app", "password": second_pw})
        )
        run = env.reconcile()
        assert run.report is not None and run.report.ok, render_report(run.report)
        recreated = {f"service:default/popcon/{s}": RecreateService.kind for s in READERS}
        assert kinds(run.plan.plan) == {**recreated, "job:popcon/migrate": "run_job"}  # dev's job: backend changes
        reason = f"secret {secret_id} rotated (version {made['VersionId'][:8]}… -> {rotated['VersionId'][:8]}…)"
        services = [a for a in run.plan.plan.actions if a.address in recreated]
        assert all(reason in a.reason for a in services), [a.reason for a in services]
        after = env.ids()
        assert all(after[s] != before[s] for s in READERS)
        assert after["redis"] == before["redis"] and after["frontend"] == before["frontend"]
        assert f"DB_PASSWORD={second_pw}" in _env_of(env, "backend")

        plan = run.plan.plan
        outputs = [render_text(plan, verbose=True), render_json(plan), render_markdown(plan), render_report(run.report)]
        outputs.append(run.lines() + repr(run.events))
        files = [p.read_text(errors="replace") for p in env.state_dir.rglob("*") if p.is_file()]
        for value in (first_pw, second_pw):
            assert not [out for out in (*outputs, *files) if value in out]
        assert not env.reconcile().plan.plan.actions
    finally:
        secretsmanager.delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)  # type: ignore[attr-defined]


def test_a_missing_secret_or_key_is_a_problem_naming_it(make_env: EnvFactory, secretsmanager) -> None:  # type: ignore[no-untyped-def]
    env = make_env("dev")
    secret_id = f"table-order-{env.copy.uid}/db"
    secretsmanager.create_secret(Name=secret_id, SecretString=json.dumps({"password": "x"}))  # type: ignore[attr-defined]
    try:
        _use_secret(env, secret_id, "pasword")
        run = env.reconcile()
        problems = {p.address: p.message for p in run.plan.plan.problems}
        name = f"parameter:{env.name('DB_PASSWORD')}"
        assert f"secret {secret_id} has no key pasword (its keys: password)" in problems[name]
        assert "parameters.yaml:" in problems[name]  # where it is declared
        assert "stack:popcon" in problems and not env.containers()  # nothing half-applied
        _use_secret(env, secret_id + "-gone", "password")
        problems = {p.address: p.message for p in env.reconcile(apply=False).plan.plan.problems}
        assert f"secret {secret_id}-gone does not exist in Secrets Manager" in problems[name]
    finally:
        secretsmanager.delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)  # type: ignore[attr-defined]
