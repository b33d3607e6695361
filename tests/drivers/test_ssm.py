"""observe/ssm and drivers/ssm against the moto server."""

from __future__ import annotations

import math

import pytest

from reconciler.core.errors import WorldError
from reconciler.core.model import OWNER_KEY, ParameterPath, Sensitive
from reconciler.drivers.aws.clients import AwsClients, CallCounter
from reconciler.drivers.aws.retrying import RateLimiter
from reconciler.drivers.ssm import SsmWriter
from reconciler.observe.parameters import (
    Read,
    attach_tags,
    observe_ownership,
    observe_parameters,
    observe_tags,
    plan_reads,
)

pytestmark = pytest.mark.world

OWNER = "reconciler-test"


def path(p: str, decrypt: bool = False) -> ParameterPath:
    return ParameterPath(path=p, set_name=p.rsplit("/", 1)[-1], prune=False, decrypt=decrypt)


def writer(clients: AwsClients) -> SsmWriter:
    return SsmWriter(clients.ssm, RateLimiter(1000.0), sleep=lambda _: None)


def test_plan_reads_merges_nested_and_duplicate_paths() -> None:
    reads = plan_reads(
        [path("/a/b"), path("/a/"), path("/a/b/c"), path("/z", True), path("/z/y"), path("/a")]
    )
    assert reads == [Read("/a", False), Read("/z", True)]
    reads = plan_reads([path("/a"), path("/a/s", True), path("/a/s/t", True), path("/ab", True)])
    assert reads == [Read("/a", False), Read("/a/s", True, secure_only=True), Read("/ab", True)]
    assert plan_reads([path("/"), path("/x", True)]) == [Read("/", False), Read("/x", True, secure_only=True)]


def test_observe_pages_ten_at_a_time(clients: AwsClients, prefix: str) -> None:
    for i in range(25):
        clients.ssm.put_parameter(Name=f"{prefix}/app/K{i:02d}", Type="String", Value=f"v{i}")
    counter = CallCounter().attach(clients.ssm)
    found = observe_parameters(clients.ssm, [path(f"{prefix}/app"), path(f"{prefix}/app/")])
    assert len(found) == 25
    assert found[f"{prefix}/app/K07"].value == "v7"
    assert found[f"{prefix}/app/K07"].tags is None
    assert counter.count("ssm", "GetParametersByPath") == math.ceil(25 / 10) == counter.total()


def test_observe_decrypts_only_where_asked(clients: AwsClients, prefix: str) -> None:
    clients.ssm.put_parameter(Name=f"{prefix}/plain/PW", Type="SecureString", Value="s3cret-plain")
    clients.ssm.put_parameter(Name=f"{prefix}/plain/HOST", Type="String", Value="db")
    clients.ssm.put_parameter(Name=f"{prefix}/sec/PW", Type="SecureString", Value="s3cret-sec")
    clients.ssm.put_parameter(Name=f"{prefix}/sec/L", Type="StringList", Value="a,b")
    found = observe_parameters(clients.ssm, [path(f"{prefix}/plain"), path(f"{prefix}/sec", True)])
    sec = found[f"{prefix}/sec/PW"].value
    assert isinstance(sec, Sensitive) and sec.reveal() == "s3cret-sec"
    plain = found[f"{prefix}/plain/PW"].value
    assert isinstance(plain, Sensitive) and plain.reveal() != "s3cret-plain"  # not decrypted
    assert found[f"{prefix}/plain/HOST"].value == "db"
    assert found[f"{prefix}/sec/L"].value == "a,b" and found[f"{prefix}/sec/L"].type == "StringList"
    assert "s3cret" not in repr(found)


def test_observe_nested_decrypting_path_reads_only_its_secrets_decrypted(
    clients: AwsClients, prefix: str
) -> None:
    clients.ssm.put_parameter(Name=f"{prefix}/cfg/HOST", Type="String", Value="db")
    clients.ssm.put_parameter(Name=f"{prefix}/cfg/OTHER_PW", Type="SecureString", Value="other")
    clients.ssm.put_parameter(Name=f"{prefix}/cfg/secrets/PW", Type="SecureString", Value="pw-1")
    clients.ssm.put_parameter(Name=f"{prefix}/cfg/secrets/USER", Type="String", Value="app")
    counter = CallCounter().attach(clients.ssm)
    found = observe_parameters(clients.ssm, [path(f"{prefix}/cfg"), path(f"{prefix}/cfg/secrets", True)])
    assert set(found) == {f"{prefix}/cfg/{n}" for n in ("HOST", "OTHER_PW", "secrets/PW", "secrets/USER")}
    pw = found[f"{prefix}/cfg/secrets/PW"].value
    assert isinstance(pw, Sensitive) and pw.reveal() == "pw-1"
    other = found[f"{prefix}/cfg/OTHER_PW"].value
    assert isinstance(other, Sensitive) and other.reveal() != "other"
    assert found[f"{prefix}/cfg/secrets/USER"].value == "app"
    assert counter.count("ssm", "GetParametersByPath") == 2


def test_observe_missing_path_is_empty_and_unreachable_is_world_error(
    clients: AwsClients, prefix: str
) -> None:
    assert observe_parameters(clients.ssm, [path(f"{prefix}/none")]) == {}
    from drivers.worldkit import aws

    dead = aws("http://127.0.0.1:9", attempts=1)
    with pytest.raises(WorldError, match=f"ssm {prefix}/none: cannot connect"):
        observe_parameters(dead.ssm, [path(f"{prefix}/none")])


def test_observe_tags_one_call_per_name(clients: AwsClients, prefix: str) -> None:
    clients.ssm.put_parameter(
        Name=f"{prefix}/a", Type="String", Value="1", Tags=[{"Key": OWNER_KEY, "Value": OWNER}]
    )
    clients.ssm.put_parameter(Name=f"{prefix}/b", Type="String", Value="2")
    counter = CallCounter().attach(clients.ssm)
    tags = observe_tags(clients.ssm, [f"{prefix}/a", f"{prefix}/b", f"{prefix}/gone", f"{prefix}/a"])
    assert tags == {f"{prefix}/a": {OWNER_KEY: OWNER}, f"{prefix}/b": {}}
    assert counter.count("ssm", "ListTagsForResource") == 3


def test_observe_ownership_one_filtered_listing_per_50_names(clients: AwsClients, prefix: str) -> None:
    ours = [f"{prefix}/own/K{i:03d}" for i in range(120)]
    for name in ours:
        clients.ssm.put_parameter(Name=name, Type="String", Value="1", Tags=[{"Key": OWNER_KEY, "Value": OWNER}])
    clients.ssm.put_parameter(
        Name=f"{prefix}/own/foreign", Type="String", Value="2", Tags=[{"Key": OWNER_KEY, "Value": "someone"}]
    )
    clients.ssm.put_parameter(Name=f"{prefix}/own/untagged", Type="String", Value="3")
    counter = CallCounter().attach(clients.ssm)
    names = [*ours, f"{prefix}/own/foreign", f"{prefix}/own/untagged", f"{prefix}/own/gone"]
    found = observe_ownership(clients.ssm, names, OWNER_KEY, OWNER)
    assert found == {
        **{name: {OWNER_KEY: OWNER} for name in ours},
        f"{prefix}/own/foreign": {OWNER_KEY: "someone"},
        f"{prefix}/own/untagged": {},
    }
    # 123 names: 3 batches of at most 50 names, each one owner-filtered listing. AWS pages up to 50
    # results; moto pages 10 whatever MaxResults says and ends a full page with a token (an empty
    # page follows): 50 + 50 + 20 owned -> 6 + 6 + 3 pages. Never one call per name.
    batches = [sorted(names)[i : i + 50] for i in range(0, len(names), 50)]
    pages = sum(len([n for n in batch if n in ours]) // 10 + 1 for batch in batches)
    assert len(batches) == 3 and counter.count("ssm", "DescribeParameters") == pages == 15
    assert counter.count("ssm", "ListTagsForResource") == 3


def test_put_create_tags_then_update_overwrites(clients: AwsClients, prefix: str) -> None:
    w = writer(clients)
    name = f"{prefix}/DB_PASSWORD"
    counter = CallCounter().attach(clients.ssm)
    assert (
        w.put(name, "SecureString", Sensitive("pw-1"), overwrite=False, tags={OWNER_KEY: OWNER}) == "created"
    )
    assert counter.count("ssm", "PutParameter") == 1 and counter.total() == 1
    got = clients.ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    assert (got["Type"], got["Value"]) == ("SecureString", "pw-1")
    assert w.tags(name) == {OWNER_KEY: OWNER}
    counter.reset()
    assert w.put(name, "SecureString", Sensitive("pw-2"), overwrite=True) == "updated"
    assert counter.count("ssm", "PutParameter") == 1 and counter.total() == 1
    assert clients.ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "pw-2"


def test_put_adopt_adds_tags_after_overwrite(clients: AwsClients, prefix: str) -> None:
    name = f"{prefix}/HOST"
    clients.ssm.put_parameter(Name=name, Type="String", Value="old")
    assert writer(clients).put(name, "String", "new", overwrite=True, tags={OWNER_KEY: OWNER}) == "updated"
    assert clients.ssm.get_parameter(Name=name)["Parameter"]["Value"] == "new"
    assert writer(clients).tags(name) == {OWNER_KEY: OWNER}


def test_create_that_finds_the_name_taken_converges(clients: AwsClients, prefix: str) -> None:
    w = writer(clients)
    name = f"{prefix}/RACE"
    clients.ssm.put_parameter(Name=name, Type="String", Value="same")
    assert w.put(name, "String", "same", overwrite=False, tags={OWNER_KEY: OWNER}) == "unchanged"
    assert w.tags(name) == {OWNER_KEY: OWNER}
    assert w.put(name, "String", "changed", overwrite=False, tags={OWNER_KEY: OWNER}) == "updated"
    assert clients.ssm.get_parameter(Name=name)["Parameter"]["Value"] == "changed"


def test_create_never_takes_over_another_owners_parameter(clients: AwsClients, prefix: str) -> None:
    name = f"{prefix}/FOREIGN"
    clients.ssm.put_parameter(
        Name=name, Type="String", Value="theirs", Tags=[{"Key": OWNER_KEY, "Value": "other"}]
    )
    with pytest.raises(WorldError, match="owned by 'other'"):
        writer(clients).put(name, "String", "mine", overwrite=False, tags={OWNER_KEY: OWNER})
    assert clients.ssm.get_parameter(Name=name)["Parameter"]["Value"] == "theirs"


def test_delete_rechecks_owner_and_is_repeatable(clients: AwsClients, prefix: str) -> None:
    w = writer(clients)
    mine, foreign, untagged = f"{prefix}/MINE", f"{prefix}/THEIRS", f"{prefix}/UNTAGGED"
    clients.ssm.put_parameter(Name=mine, Type="String", Value="1", Tags=[{"Key": OWNER_KEY, "Value": OWNER}])
    clients.ssm.put_parameter(Name=foreign, Type="String", Value="1", Tags=[{"Key": OWNER_KEY, "Value": "x"}])
    clients.ssm.put_parameter(Name=untagged, Type="String", Value="1")
    assert w.delete(mine, expected_owner=OWNER) == "deleted"
    assert w.delete(mine, expected_owner=OWNER) == "absent"
    for name in (foreign, untagged):
        with pytest.raises(WorldError, match="not deleted"):
            w.delete(name, expected_owner=OWNER)
        assert clients.ssm.get_parameter(Name=name)["Parameter"]["Value"] == "1"


class EchoingSsm:
    """Stands in for AWS's 4 KB validation error, which echoes the value (moto does not check size)."""

    def put_parameter(self, **kwargs: object) -> None:
        from botocore.exceptions import ClientError

        message = (
            f"1 validation error detected: Value '{kwargs['Value']}' at 'value' failed to satisfy"
            " constraint: Member must have length less than or equal to 4096"
        )
        raise ClientError({"Error": {"Code": "ValidationException", "Message": message}}, "PutParameter")


def test_put_error_never_shows_the_value() -> None:
    secret = "x" * 5000
    w = SsmWriter(EchoingSsm(), RateLimiter(1000.0), sleep=lambda _: None)  # type: ignore[arg-type]
    with pytest.raises(WorldError) as info:
        w.put("/p/BIG", "SecureString", Sensitive(secret), overwrite=False)
    assert "xxxxxxxx" not in str(info.value)
    assert str(info.value).startswith("parameter /p/BIG: PutParameter failed (ValidationException)")
    assert "length less than or equal to 4096" in str(info.value)


def test_writes_are_rate_limited(clients: AwsClients, prefix: str) -> None:
    slept: list[float] = []
    now = [0.0]

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    w = SsmWriter(clients.ssm, RateLimiter(3.0, clock=lambda: now[0], sleep=sleep), sleep=sleep)
    for i in range(4):
        w.put(f"{prefix}/R{i}", "String", "v", overwrite=False)
    assert sum(slept) == pytest.approx(1.0)  # 4 writes at 3 TPS: 3 waits of 1/3 s


def test_attach_tags_fills_only_fetched_names(clients: AwsClients, prefix: str) -> None:
    clients.ssm.put_parameter(
        Name=f"{prefix}/a", Type="String", Value="1", Tags=[{"Key": OWNER_KEY, "Value": OWNER}]
    )
    clients.ssm.put_parameter(Name=f"{prefix}/b", Type="String", Value="2")
    found = observe_parameters(clients.ssm, [path(prefix)])
    merged = attach_tags(found, observe_tags(clients.ssm, [f"{prefix}/a"]))
    assert merged[f"{prefix}/a"].tags == {OWNER_KEY: OWNER}
    assert merged[f"{prefix}/b"].tags is None
    assert merged[f"{prefix}/a"].value == "1"
