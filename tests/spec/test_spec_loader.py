"""Loading an environment folder: which files are read, documents, line maps, cross-document rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from spec_helpers import VALID, EnvFactory, edit

from reconciler.core.errors import SpecError
from reconciler.spec.documents import ComposeStack, Environment, Images, ParameterSet
from reconciler.spec.loader import load_environment


def _error(env: Path) -> str:
    with pytest.raises(SpecError) as caught:
        load_environment(env, cwd=env)
    return str(caught.value)


def test_valid_environment_loads_every_document() -> None:
    loaded = load_environment(VALID)
    assert loaded.name == "dev"
    assert loaded.owner == "popcon-dev"
    assert loaded.env_dir == VALID.resolve()
    assert isinstance(loaded.environment, Environment)
    assert list(loaded.parameter_sets) == ["popcon-config", "popcon-secrets"]
    assert all(isinstance(s, ParameterSet) for s in loaded.parameter_sets.values())
    assert list(loaded.images) == ["popcon-images"] and isinstance(loaded.images["popcon-images"], Images)
    assert list(loaded.stacks) == ["popcon"] and isinstance(loaded.stacks["popcon"], ComposeStack)
    assert set(loaded.sources) == {
        ("Environment", "dev"),
        ("ParameterSet", "popcon-config"),
        ("ParameterSet", "popcon-secrets"),
        ("Images", "popcon-images"),
        ("ComposeStack", "popcon"),
    }
    assert list(loaded.image_entries()) == ["backend", "frontend", "mysql", "redis"]
    assert set(loaded.compose["popcon"].services) == {"frontend", "backend", "mysql", "redis"}


def test_line_map_points_at_fields() -> None:
    loaded = load_environment(VALID, cwd=VALID)
    assert (
        loaded.where("ParameterSet", "popcon-config", ("spec", "parameters", "DB_PORT")) == "params.yaml:10"
    )
    # second document of a multi-document file
    assert (
        loaded.where("ParameterSet", "popcon-secrets", ("spec", "parameters", "DB_PASSWORD"))
        == "params.yaml:21"
    )
    assert loaded.source("ParameterSet", "popcon-secrets").index == 1
    # a missing field: the line of its parent
    assert loaded.where("ComposeStack", "popcon", ("spec", "project")) == "stack.yaml:5"
    assert loaded.where("Images", "popcon-images", ("spec", "images", "redis", "digest")) == "images.yaml:12"


def test_messages_name_files_relative_to_cwd(make_env: EnvFactory, tmp_path: Path) -> None:
    env = make_env()
    edit(env, "params.yaml", 'DB_PORT: "3306"', "DB_PORT: 3306")
    with pytest.raises(SpecError) as caught:
        load_environment(env, cwd=tmp_path)
    assert caught.value.issues[0].file == "dev/params.yaml"
    assert caught.value.issues[0].line == 10
    assert caught.value.issues[0].field == "spec.parameters.DB_PORT"
    with pytest.raises(SpecError) as outside:
        load_environment(env, cwd=tmp_path / "elsewhere")
    assert outside.value.issues[0].file == str(env.resolve() / "params.yaml")


def test_all_problems_are_reported_at_once(make_env: EnvFactory) -> None:
    env = make_env()
    edit(env, "params.yaml", 'DB_PORT: "3306"', "DB_PORT: 3306")
    edit(env, "images.yaml", 'tag: "8.0"', "tag: 8.0")
    edit(env, "stack.yaml", "mysql: {image: mysql}", "mysql: {image: nope}")
    with pytest.raises(SpecError) as caught:
        load_environment(env, cwd=env)
    where = [f"{i.file}:{i.line}" for i in caught.value.issues]
    assert where == ["images.yaml:9", "params.yaml:10", "stack.yaml:13"]  # sorted by file, line


def test_compose_file_named_by_a_stack_is_not_a_spec_document(make_env: EnvFactory) -> None:
    # a compose file that happens to carry an apiVersion key is still only a compose file
    env = make_env()
    compose = (env / "docker-compose.yml").read_text()
    (env / "docker-compose.yml").write_text("x-note: {apiVersion: foo}\n" + compose)
    (env / "docker-compose.yml").rename(env / "app.yaml")
    edit(env, "stack.yaml", "composeFile: docker-compose.yml", "composeFile: app.yaml")
    loaded = load_environment(env)
    assert loaded.compose["popcon"].path == (env / "app.yaml").resolve()


def test_unreferenced_compose_files_and_subfolders_are_ignored(make_env: EnvFactory) -> None:
    env = make_env()
    (env / "docker-compose.override.yml").write_text("services:\n  backend:\n    environment: [DEBUG=1]\n")
    (env / "old").mkdir()
    (env / "old" / "broken.yaml").write_text("{{{ not yaml")
    (env / "README.md").write_text("# not yaml at all: [")
    load_environment(env)


def test_empty_documents_and_files_are_skipped(make_env: EnvFactory) -> None:
    env = make_env()
    (env / "empty.yaml").write_text("")
    (env / "comments.yml").write_text("# nothing yet\n---\n---\n")
    params = (env / "params.yaml").read_text()
    (env / "params.yaml").write_text("---\n" + params + "---\n")
    assert set(load_environment(env).parameter_sets) == {"popcon-config", "popcon-secrets"}


def test_yml_extension_is_read(make_env: EnvFactory) -> None:
    env = make_env()
    (env / "images.yaml").rename(env / "images.yml")
    assert "popcon-images" in load_environment(env).images


def test_not_a_directory(tmp_path: Path) -> None:
    assert "not a directory" in _error(tmp_path / "missing")


def test_anchors_and_merge_keys_in_spec_documents(make_env: EnvFactory) -> None:
    env = make_env()
    edit(
        env,
        "images.yaml",
        '    frontend: {repository: popcon/frontend, tag: "1.4.0"}',
        '    frontend: &fe {repository: popcon/frontend, tag: "1.4.0"}\n'
        '    frontend-canary: {<<: *fe, tag: "1.5.0"}',
    )
    entry = load_environment(env).images["popcon-images"].spec.images["frontend-canary"]
    assert (entry.repository, entry.tag) == ("popcon/frontend", "1.5.0")


def test_unknown_nested_field_suggests_the_right_one(make_env: EnvFactory) -> None:
    env = make_env()
    edit(
        env,
        "params.yaml",
        "{type: SecureString, fromEnv: POPCON_DB_PASSWORD}",
        "{type: SecureString, fromenv: X}",
    )
    message = _error(env)
    assert (
        "params.yaml:21: spec.parameters.DB_PASSWORD.fromenv: unknown field; did you mean 'fromEnv'?"
        in message
    )


def test_camel_case_and_python_names_are_both_accepted(make_env: EnvFactory) -> None:
    env = make_env()
    edit(env, "params.yaml", "fromEnv: POPCON_DB_PASSWORD", "from_env: POPCON_DB_PASSWORD")
    entry = load_environment(env).parameter_sets["popcon-secrets"].spec.parameters["DB_PASSWORD"]
    assert entry.from_env == "POPCON_DB_PASSWORD"


def test_a_set_not_used_by_any_stack_may_have_non_env_keys(make_env: EnvFactory) -> None:
    env = make_env()
    (env / "more.yaml").write_text(
        "apiVersion: reconciler.dev/v1alpha1\nkind: ParameterSet\nmetadata: {name: tooling}\n"
        "spec:\n  path: /popcon/dev/tooling\n  parameters:\n    ci/token.name: build-bot\n"
    )
    loaded = load_environment(env)
    assert "ci/token.name" in loaded.parameter_sets["tooling"].spec.parameters


def test_same_set_twice_in_a_stack_is_no_conflict(make_env: EnvFactory) -> None:
    env = make_env()
    edit(
        env,
        "stack.yaml",
        "    frontend: {image: frontend}",
        "    frontend: {image: frontend, environmentFrom: [popcon-config]}",
    )
    load_environment(env)


def test_stack_may_omit_services_and_sets(make_env: EnvFactory) -> None:
    env = make_env(
        stack__yaml="apiVersion: reconciler.dev/v1alpha1\nkind: ComposeStack\nmetadata: {name: popcon}\n"
        "spec:\n  composeFile: docker-compose.yml\n"
    )
    (env / "docker-compose.yml").write_text("services:\n  web:\n    image: nginx:1.27\n")  # no variable to set
    assert load_environment(env).stacks["popcon"].spec.services == {}


def test_environment_name_two_environments_same_name(make_env: EnvFactory) -> None:
    env = make_env()
    (env / "zz-again.yaml").write_text((env / "environment.yaml").read_text())
    message = _error(env)
    assert "zz-again.yaml:4: metadata.name: duplicate Environment name 'dev'" in message
    assert message.count("\n") == 1  # one issue, not also "a second Environment"


def test_invalid_environment_is_not_also_reported_missing(make_env: EnvFactory) -> None:
    env = make_env()
    edit(env, "environment.yaml", "region: ap-northeast-2", "region: 5")
    message = _error(env)
    assert "environment.yaml:7: spec.aws.region: expected a string, got a number (5); quote it" in message
    assert "no Environment" not in message


def test_scalar_document_has_a_line(make_env: EnvFactory) -> None:
    env = make_env()
    (env / "odd.yaml").write_text("# header\n\n---\njust a string\n")
    assert "odd.yaml:4: a document must be a mapping" in _error(env)


def test_non_utf8_file(make_env: EnvFactory) -> None:
    env = make_env()
    (env / "bin.yaml").write_bytes(b"\xff\xfe\x00a")
    assert "bin.yaml: not a UTF-8 text file" in _error(env)


def test_invalid_compose_in_one_stack_does_not_hide_other_problems(make_env: EnvFactory) -> None:
    env = make_env()
    edit(env, "docker-compose.yml", "depends_on: [backend]", "depends_on: [cache]")
    edit(env, "stack.yaml", "[popcon-config, popcon-secrets]", "[popcon-config, nope]")
    message = _error(env)
    assert (
        "docker-compose.yml:5: services.frontend.depends_on[0]: depends on unknown service 'cache'" in message
    )
    assert "stack.yaml:7: spec.parameterSets[1]: no ParameterSet named 'nope'" in message


def test_two_stacks_may_share_a_compose_file_with_distinct_projects(make_env: EnvFactory) -> None:
    env = make_env()
    (env / "stack2.yaml").write_text(
        "apiVersion: reconciler.dev/v1alpha1\nkind: ComposeStack\nmetadata: {name: popcon-b}\n"
        "spec:\n  composeFile: docker-compose.yml\n  parameterSets: [popcon-config, popcon-secrets]\n"
    )
    loaded = load_environment(env)
    assert loaded.compose["popcon"] is loaded.compose["popcon-b"]


def test_compose_file_that_holds_spec_documents_is_an_error(make_env: EnvFactory) -> None:
    env = make_env()
    edit(env, "stack.yaml", "composeFile: docker-compose.yml", "composeFile: stack.yaml")
    message = _error(env)
    assert "stack.yaml:1: this file is a ComposeStack's composeFile but holds spec documents" in message


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    import shutil

    from reconciler.spec.source import MAX_FILE_BYTES

    env = tmp_path / "dev"
    shutil.copytree(VALID, env)
    with (env / "big.yaml").open("w") as handle:
        line = "key: " + "x" * 95 + "\n"
        handle.write(line * (MAX_FILE_BYTES // len(line) + 10))
    with pytest.raises(SpecError) as info:
        load_environment(env)  # refused on its size, before a parser sees it
    assert "big.yaml: " in str(info.value) and "a spec or compose file is at most 5,242,880" in str(info.value)
