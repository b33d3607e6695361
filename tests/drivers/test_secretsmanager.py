"""drivers/aws/secretsmanager and observe/secretsmanager against moto's Secrets Manager (server mode):
one read per secret and stage (BatchGetSecretValue for several at AWSCURRENT), version stages,
rotation by PutSecretValue, missing secrets absent, read-only clients, no value in any message."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest

from drivers.worldkit import REGION, uid
from reconciler.core.errors import PermanentError, ReadOnlyViolation
from reconciler.core.secretsmanager import SecretRef, SecretValue, resolve_secret
from reconciler.drivers.aws.clients import CallCounter
from reconciler.drivers.aws.secretsmanager import SecretsReader, make_secrets_client
from reconciler.drivers.readonly import read_only_boto3
from reconciler.observe.secretsmanager import observe_secrets

pytestmark = pytest.mark.world


@pytest.fixture
def secrets(sandbox):  # type: ignore[no-untyped-def]
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    client = make_secrets_client(session, REGION, sandbox.moto_url)
    yield client
    client.close()


@pytest.fixture
def names(secrets) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """Three fresh secrets: <p>/db (JSON), <p>/api (plain), <p>/cert (binary); deleted afterwards."""
    p = f"test-{uid()}"
    made = [f"{p}/db", f"{p}/api", f"{p}/cert"]
    secrets.create_secret(Name=made[0], SecretString=json.dumps({"username": "app", "password": "pw-one"}))
    secrets.create_secret(Name=made[1], SecretString="tok-one")
    secrets.create_secret(Name=made[2], SecretBinary=b"\x00\x01")
    yield made
    for name in made:
        secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def test_several_secrets_at_awscurrent_cost_one_batch_call(secrets, names) -> None:  # type: ignore[no-untyped-def]
    counter = CallCounter().attach(secrets)
    refs = [SecretRef(names[0], "password"), SecretRef(names[0], "username"), SecretRef(names[1]),
            SecretRef(names[2]), SecretRef(names[0] + "-missing")]  # fmt: skip
    seen = observe_secrets(SecretsReader(secrets), refs)
    assert counter.count("secretsmanager", "BatchGetSecretValue") == 1
    assert counter.count("secretsmanager", "GetSecretValue") == 0
    assert set(seen) == {f"{names[0]}@AWSCURRENT", f"{names[1]}@AWSCURRENT", f"{names[2]}@AWSCURRENT"}
    password = resolve_secret(refs[0], seen)
    assert isinstance(password, SecretValue) and password.reveal() == "pw-one"
    assert str(password) == "(sensitive)" and "pw-one" not in repr(seen)
    assert resolve_secret(refs[1], seen) == SecretValue("app", refs[1], "")
    token = resolve_secret(refs[2], seen)
    assert isinstance(token, SecretValue) and token.reveal() == "tok-one"
    assert "SecretBinary" in str(resolve_secret(refs[3], seen))
    assert resolve_secret(refs[4], seen) == f"secret {names[0]}-missing does not exist in Secrets Manager"
    assert "has no key nope" in str(resolve_secret(SecretRef(names[0], "nope"), seen))


def test_rotation_gives_a_new_version_and_stages_are_read_one_by_one(secrets, names) -> None:  # type: ignore[no-untyped-def]
    counter = CallCounter().attach(secrets)
    reader = SecretsReader(secrets)
    before = observe_secrets(reader, [SecretRef(names[1])])[f"{names[1]}@AWSCURRENT"]
    assert counter.count("secretsmanager", "GetSecretValue") == 1  # a single secret: no batch call
    secrets.put_secret_value(SecretId=names[1], SecretString="tok-two")  # the rotation
    refs = [SecretRef(names[1]), SecretRef(names[1], version_stage="AWSPREVIOUS"),
            SecretRef(names[1], version_stage="AWSPENDING")]  # fmt: skip
    seen = observe_secrets(reader, refs)
    now, previous = seen[f"{names[1]}@AWSCURRENT"], seen[f"{names[1]}@AWSPREVIOUS"]
    assert now.version_id != before.version_id and previous.version_id == before.version_id
    assert now.value is not None and now.value.reveal() == "tok-two"
    assert previous.value is not None and previous.value.reveal() == "tok-one"
    assert f"{names[1]}@AWSPENDING" not in seen  # no version at that stage: absent, not an error
    assert counter.count("secretsmanager", "GetSecretValue") == 4


def test_reads_work_through_a_read_only_client_and_writes_are_refused(sandbox, secrets, names) -> None:  # type: ignore[no-untyped-def]
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    guarded = read_only_boto3(make_secrets_client(session, REGION, sandbox.moto_url))
    seen = observe_secrets(SecretsReader(guarded), [SecretRef(names[0]), SecretRef(names[1])])
    assert len(seen) == 2
    with pytest.raises(ReadOnlyViolation):
        guarded.put_secret_value(SecretId=names[1], SecretString="never")
    assert secrets.get_secret_value(SecretId=names[1])["SecretString"] == "tok-one"


def test_an_unreachable_or_refused_read_is_a_clear_error_naming_the_secret(sandbox, secrets, names) -> None:  # type: ignore[no-untyped-def]
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    client = make_secrets_client(session, REGION, "http://127.0.0.1:9")  # nothing listens there
    reader = SecretsReader(client, budget=0)
    with pytest.raises(Exception) as caught:
        reader.read([("table-order/db", "AWSCURRENT")])
    assert "secret table-order/db" in str(caught.value)
    assert "Traceback" not in str(caught.value)
    secrets.delete_secret(SecretId=names[1], RecoveryWindowInDays=7)  # scheduled for deletion: refused
    try:
        with pytest.raises(PermanentError, match=f"secret {names[1]}: GetSecretValue failed") as refused:
            SecretsReader(secrets).read([(names[1], "AWSCURRENT")])
        assert "tok-one" not in str(refused.value)
    finally:
        secrets.restore_secret(SecretId=names[1])
