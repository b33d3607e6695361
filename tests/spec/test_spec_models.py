"""Rules one spec document can check on its own: SSM names, parameter entries, images, registries."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from reconciler.spec.documents import (
    ImageEntry,
    Metadata,
    ParameterEntry,
    ParameterSetSection,
    RegistrySection,
    ssm_name_problem,
    ssm_path_problem,
)

HEX = "0123456789abcdef" * 4


def _errors(model: Any, data: object) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return " | ".join(str(e["msg"]) for e in caught.value.errors())


# ---- SSM names -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "/popcon/dev/DB_HOST",
        "/a",
        "/a.b-c_d/E",
        "/" + "/".join(["l"] * 15),  # 15 levels
        "/" + "x" * 1010,  # 1011 characters
        "/my-aws/x",  # only the start of the first level is reserved
        "/popcon/ssm",
    ],
)
def test_valid_ssm_names(name: str) -> None:
    assert ssm_name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("popcon/dev", "must start with '/'"),
        ("/", "not a usable path"),
        ("/popcon/", "must not end with '/'"),
        ("/popcon//dev", "empty level"),
        ("/popcon/dev/DB HOST", "characters SSM does not allow"),
        ("/popcon/dev/DB*", "characters SSM does not allow"),
        ("/popcon/dév", "characters SSM does not allow"),
        ("/aws/x", "must not begin with 'aws' or 'ssm'"),
        ("/AWSconfig/x", "must not begin with 'aws' or 'ssm'"),
        ("/Ssm-params", "must not begin with 'aws' or 'ssm'"),
        ("/" + "/".join(["l"] * 16), "16 levels; SSM allows at most 15"),
        ("/" + "x" * 1011, "1012 characters long"),
    ],
)
def test_invalid_ssm_names(name: str, why: str) -> None:
    problem = ssm_name_problem(name)
    assert problem is not None and why in problem


def test_path_rules_do_not_check_levels_of_full_names() -> None:
    assert ssm_path_problem("/" + "/".join(["l"] * 15)) is None


def test_parameter_keys_must_be_ssm_names() -> None:
    assert "must not start or end with '/'" in _errors(
        ParameterSetSection, {"path": "/a", "parameters": {"/X": "v"}}
    )
    assert "must not be empty" in _errors(ParameterSetSection, {"path": "/a", "parameters": {"": "v"}})
    spec = ParameterSetSection.model_validate({"path": "/a", "parameters": {"db/host.name": "v"}})
    assert list(spec.parameters) == ["db/host.name"]


# ---- parameter entries ------------------------------------------------------------


def test_shorthand_is_a_string() -> None:
    spec = ParameterSetSection.model_validate({"path": "/a", "parameters": {"A": "x"}})
    assert spec.parameters["A"] == ParameterEntry(type="String", value="x")


def test_string_list_as_list_or_string() -> None:
    as_list = ParameterEntry.model_validate({"type": "StringList", "value": ["a", "b"]})
    as_text = ParameterEntry.model_validate({"type": "StringList", "value": "a,b"})
    assert as_list.joined_value() == as_text.joined_value() == "a,b"


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ({"type": "SecureString", "value": "pw"}, "cannot have a literal value in git"),
        ({"type": "SecureString"}, "needs fromEnv: VAR"),
        ({"type": "SecureString", "fromEnv": "A", "external": True}, "not both"),
        ({"type": "SecureString", "external": False}, "external: false means nothing"),
        ({"type": "String"}, "a String needs a value"),
        ({"type": "StringList"}, "a StringList needs a value"),
        ({"value": ["a"]}, "for a list use type: StringList"),
        ({"type": "StringList", "value": []}, "at least one item"),
        ({"type": "StringList", "value": ["a", "b,c"]}, "item 1 ('b,c') contains a comma"),
        ({"type": "StringList", "value": ["a", 2]}, "item 1 must be a string, got a number (2); quote it"),
        ({"value": 5}, "got a number (5); quote it"),
        ({"value": True}, "got a boolean (true); quote it"),
        ({"external": True}, "external is for SecureString only"),
        ({"fromEnv": "X"}, "fromEnv is for SecureString only"),
        ({"type": "SecureString", "fromEnv": "1X"}, "not a valid environment variable name"),
        ({"value": ""}, "the value is empty"),
        ({"value": "é" * 2049}, "4098 bytes"),
        ({"type": "Secure"}, "Input should be 'String', 'StringList' or 'SecureString'"),
    ],
)
def test_parameter_entry_rules(entry: dict[str, object], why: str) -> None:
    assert why in _errors(ParameterEntry, entry)


def test_value_limit_counts_bytes() -> None:
    assert ParameterEntry.model_validate({"value": "é" * 2048}).joined_value() == "é" * 2048  # 4096 bytes


def test_secure_string_message_never_shows_the_value() -> None:
    with pytest.raises(ValidationError) as caught:
        ParameterSetSection.model_validate(
            {"path": "/a", "parameters": {"P": {"type": "SecureString", "value": "hunter2"}}}
        )
    assert "hunter2" not in " ".join(str(e["msg"]) for e in caught.value.errors())


# ---- images ------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["latest", "1.4.0", "v1_2-rc.3", "_x", "A" * 128, "8.0"])
def test_valid_tags(tag: str) -> None:
    assert ImageEntry.model_validate({"repository": "popcon/backend", "tag": tag}).tag == tag


@pytest.mark.parametrize("tag", [".x", "-x", "a/b", "a:b", "A" * 129, "", "a b"])
def test_invalid_tags(tag: str) -> None:
    assert "is not a valid image tag" in _errors(ImageEntry, {"repository": "popcon/backend", "tag": tag})


@pytest.mark.parametrize("digest", ["sha256:" + HEX.upper(), "sha256:" + HEX[:-1], "sha512:" + HEX, HEX])
def test_invalid_digests(digest: str) -> None:
    assert "is not a digest" in _errors(ImageEntry, {"repository": "popcon/backend", "digest": digest})


@pytest.mark.parametrize("repository", ["popcon/backend", "a", "a/b/c", "my_org/my-app", "a_b/c__d", "a.b"])
def test_valid_repositories(repository: str) -> None:
    assert ImageEntry.model_validate({"repository": repository, "tag": "1"}).repository == repository


@pytest.mark.parametrize(
    ("repository", "why"),
    [
        ("Popcon/backend", "not a valid repository path"),
        ("popcon//backend", "not a valid repository path"),
        ("popcon/backend:1.0", "not a valid repository path"),
        ("registry.example.com/popcon/backend", "starts with a registry host"),
        ("localhost/popcon", "starts with a registry host"),
    ],
)
def test_invalid_repositories(repository: str, why: str) -> None:
    assert why in _errors(ImageEntry, {"repository": repository, "tag": "1"})


def test_tag_xor_digest() -> None:
    assert "not both" in _errors(ImageEntry, {"repository": "a", "tag": "1", "digest": "sha256:" + HEX})
    assert "needs a tag or a digest" in _errors(ImageEntry, {"repository": "a"})
    assert ImageEntry.model_validate({"repository": "a", "digest": "sha256:" + HEX}).digest


# ---- registries and metadata ---------------------------------------------------------


@pytest.mark.parametrize(
    ("registry", "why"),
    [
        ({"type": "oci"}, "needs url"),
        ({"type": "oci", "url": "r:5000", "accountId": "123456789012"}, "accountId is for ecr"),
        ({"type": "ecr"}, "needs accountId"),
        ({"type": "ecr", "accountId": "123456789012", "insecure": True}, "insecure is for oci"),
        ({"type": "ecr", "accountId": "12345"}, "not an AWS account id"),
        ({"type": "gcr", "url": "gcr.io"}, "Input should be 'oci' or 'ecr'"),
        ({"url": "https://r.example.com"}, "without a scheme"),
        ({"url": "r.example.com/path"}, "is not a host[:port]"),
    ],
)
def test_registry_rules(registry: dict[str, object], why: str) -> None:
    assert why in _errors(RegistrySection, registry)


def test_registry_defaults_to_oci() -> None:
    assert RegistrySection.model_validate({"url": "127.0.0.1:5000"}).type == "oci"


@pytest.mark.parametrize("name", ["dev", "a", "popcon-config", "x" * 63, "1a"])
def test_valid_names(name: str) -> None:
    assert Metadata.model_validate({"name": name}).name == name


@pytest.mark.parametrize("name", ["Dev", "-a", "a-", "a_b", "a.b", "x" * 64, ""])
def test_invalid_names(name: str) -> None:
    assert "is not a valid name" in _errors(Metadata, {"name": name})
