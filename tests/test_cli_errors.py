"""The command line on bad input and an unreachable world: clear message, exit 1, nothing touched.

The broken-spec corpus (tests/spec/cases) goes through the real CLI with AWS
and Docker pointed at a local HTTP listener that counts what it receives: a
spec error must be reported before a single request reaches either.
"""

from __future__ import annotations

import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import docker
import pytest
from brokenengine import BrokenEngine

from reconciler import cli
from reconciler.sandbox.lifecycle import SandboxInfo

REPO = Path(__file__).resolve().parent.parent
CASES = REPO / "tests" / "spec" / "cases"
BROKEN = sorted(p.name for p in CASES.iterdir() if p.is_dir() and not p.name.startswith("_"))
# environments our reader accepts but Compose itself refuses (checked offline, before any call)
COMPOSE_CASES = REPO / "tests" / "spec" / "compose_cases"
REFUSED_BY_COMPOSE = sorted(p.name for p in COMPOSE_CASES.iterdir() if p.is_dir())


class Listener:
    """An HTTP server on loopback that answers 500 to everything and counts requests."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                outer.requests.append(f"{self.command} {self.path}")
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _any

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def _server() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture()
def listener(_server: Listener) -> Listener:
    _server.requests.clear()
    return _server


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def expected_lines(case: str) -> list[str]:
    text = (CASES / case / "expected.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


def argv_at(command: str, folder: Path, listener: Listener) -> list[str]:
    """The command line for ``folder`` with AWS and Docker pointed at the counting listener."""
    argv = [command, str(folder)]
    if command != "validate":
        url = f"http://127.0.0.1:{listener.port}"
        argv += ["--aws-endpoint-url", url, "--docker-host", f"tcp://127.0.0.1:{listener.port}"]
    if command == "apply":
        argv.append("--auto-approve")
    return argv


def test_corpus_has_at_least_twenty_cases() -> None:
    assert len(BROKEN) >= 20


@pytest.mark.parametrize("command", ["validate", "plan", "apply"])
@pytest.mark.parametrize("case", BROKEN)
def test_broken_spec_exits_1_with_its_message_and_no_call(
    case: str, command: str, listener: Listener, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(argv_at(command, CASES / case, listener))
    out, err = capsys.readouterr()
    assert code == 1
    assert listener.requests == []  # neither AWS nor Docker was asked anything
    assert "Traceback" not in err and out == ""
    for line in expected_lines(case):
        if line.startswith("!"):
            assert line[1:] not in err
        else:
            assert line in err, f"{line!r} not in:\n{err}"


@pytest.mark.parametrize("command", ["validate", "plan", "apply"])
@pytest.mark.parametrize("case", REFUSED_BY_COMPOSE)
def test_compose_refuses_before_any_call(
    case: str, command: str, listener: Listener, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POPCON_DB_PASSWORD", "s3cret-value")
    code = cli.main(argv_at(command, COMPOSE_CASES / case, listener))
    out, err = capsys.readouterr()
    assert code == 1
    assert listener.requests == []  # nothing was observed, nothing written
    assert "Traceback" not in err and out == "" and "level=warning" not in err and "s3cret-value" not in err
    for line in (COMPOSE_CASES / case / "expected.txt").read_text(encoding="utf-8").splitlines():
        if line.strip():
            assert line in err, f"{line!r} not in:\n{err}"


def _dev_copy(tmp_path: Path) -> Path:
    target = tmp_path / "dev"
    shutil.copytree(REPO / "environments" / "dev", target)
    return target


def test_unreachable_docker_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = _dev_copy(tmp_path)
    code = cli.main(["plan", str(env), "--docker-host", f"unix://{tmp_path}/no-docker.sock"])
    _, err = capsys.readouterr()
    assert code == 1
    assert "cannot connect to the Docker engine" in err and "Traceback" not in err


def test_a_closed_docker_port_is_cannot_connect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = _dev_copy(tmp_path)
    url = f"tcp://127.0.0.1:{closed_port()}"
    code = cli.main(["plan", str(env), "--docker-host", url, "--state-dir", str(tmp_path / "state")])
    _, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert f"host default: cannot connect to the Docker engine: is dockerd running? (at {url})" in err


@pytest.mark.world
@pytest.mark.parametrize("command", ["plan", "apply"])
def test_an_engine_answering_500_says_it_answered_not_cannot_connect(
    command: str, tmp_path: Path, sandbox: SandboxInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Docker engine that is reachable but answers HTTP 500 (its JSON message): the user reads the
    status and the engine's message, naming the host and endpoint; "cannot connect" would send them
    looking for a stopped dockerd."""
    env = _dev_copy(tmp_path)
    with BrokenEngine(500, "devmapper: thin pool full") as engine:
        argv = [command, str(env), "--sandbox", "--docker-host", engine.url, "--state-dir", str(tmp_path / "state")]
        code = cli.main(argv + (["--auto-approve"] if command == "apply" else []))
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err + out
    assert "cannot connect" not in err + out
    assert (
        f"host default: the Docker engine answered with an error: devmapper: thin pool full (HTTP 500) "
        f"(at {engine.url})"
    ) in err + out
    assert engine.requests and all(r == "GET /version" for r in engine.requests)


@pytest.mark.world
def test_unreachable_aws_is_a_clear_error_and_nothing_runs(
    tmp_path: Path, sandbox: SandboxInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    env = _dev_copy(tmp_path)
    project = f"cli-{uuid.uuid4().hex[:8]}"
    stack = env / "stack.yaml"
    stack.write_text(stack.read_text().replace("project: dev-popcon", f"project: {project}"))
    url = f"http://127.0.0.1:{closed_port()}"
    code = cli.main(
        ["apply", str(env), "--auto-approve", "--aws-endpoint-url", url, "--docker-host", sandbox.docker_host,
         "--state-dir", str(tmp_path / "state")]
    )
    _, err = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in err
    assert "cannot connect to" in err and url in err
    api = docker.APIClient(base_url=sandbox.docker_host)
    try:
        assert api.containers(all=True, filters={"label": f"com.docker.compose.project={project}"}) == []
    finally:
        api.close()


@pytest.mark.world
def test_aws_errors_are_clear_messages(
    tmp_path: Path, listener: Listener, sandbox: SandboxInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    """An endpoint that answers 500 to everything: a message naming the call, no stack trace."""
    env = _dev_copy(tmp_path)
    url = f"http://127.0.0.1:{listener.port}"
    code = cli.main(["plan", str(env), "--aws-endpoint-url", url, "--docker-host", sandbox.docker_host])
    _, err = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in err
    assert "GetParametersByPath" in err and "/popcon/dev" in err


def test_missing_environment_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["validate", str(tmp_path / "nowhere")])
    _, err = capsys.readouterr()
    assert code == 1
    assert "nowhere" in err and "Traceback" not in err


def test_validate_the_examples(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POPCON_PROD_DB_PASSWORD", "x")
    for name in ("environments/dev", "environments/prod", "examples/static-hosts"):
        assert cli.main(["validate", str(REPO / name)]) == 0
    out, _ = capsys.readouterr()
    assert "environment dev" in out and "environment prod" in out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--aws-endpoint-url", "ftp://x"], "--aws-endpoint-url 'ftp://x': must be an http:// or https:// URL"),
        (["--docker-host", "localhost:2375"], "the URL one of unix://, tcp://, ssh://"),
        (["--docker-host", "web-9=tcp://127.0.0.1:1"], "no host named 'web-9' (hosts: default)"),
        (["--docker-engine", "localhost:2375"], "--docker-engine 'localhost:2375': give a URL, one of unix://, "),
        (["--docker-engine", "tcp://"], "--docker-engine 'tcp://': give a URL"),
        (["--registry", "ftp://mirror:5000"], "--registry 'ftp://mirror:5000': give HOST[:PORT] or https://"),
        (["--registry", "mirror:5000/popcon"], "--registry 'mirror:5000/popcon': give HOST[:PORT]"),
        (["--registry", "mirror:99999"], "--registry 'mirror:99999': give HOST[:PORT]"),
        (["--registry", "http://"], "or http://HOST[:PORT] (plain HTTP)"),
        (["--registry", "http://[1:2:3]:5000"], "--registry 'http://[1:2:3]:5000': give HOST[:PORT]"),
        # malformed URLs urllib refuses (once a traceback from deep inside a client)
        (["--aws-endpoint-url", "http://[::1"],
         "--aws-endpoint-url 'http://[::1': not a valid URL: its host is not a valid address (an IPv6 address"),
        (["--aws-endpoint-url", "http://[zz]:4566"], "'http://[zz]:4566': not a valid URL: its host"),
        (["--aws-endpoint-url", "http://127.0.0.1:99999"], "not a valid URL: its port must be a number from 1"),
        (["--aws-endpoint-url", "http://h:abc"], "--aws-endpoint-url 'http://h:abc': not a valid URL: its port"),
        (["--aws-endpoint-url", "http://:4566"], "'http://:4566': not a valid URL: it names no host"),
        (["--docker-host", "tcp://[::1"], "--docker-host 'tcp://[::1': not a valid URL: its host is not a valid"),
        (["--docker-host", "default=tcp://h:abc"], "--docker-host 'default=tcp://h:abc': not a valid URL: its port"),
        (["--docker-host", "ssh://u@[::1"], "--docker-host 'ssh://u@[::1': not a valid URL"),
        (["--docker-engine", "tcp://[::1"], "--docker-engine 'tcp://[::1': not a valid URL: its host"),
        (["--docker-engine", "tcp://127.0.0.1:70000"], "--docker-engine 'tcp://127.0.0.1:70000': not a valid URL"),
    ],
)
def test_bad_overrides_exit_1_before_any_call(
    flags: list[str],
    message: str,
    listener: Listener,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POPCON_DB_PASSWORD", "pw")
    code = cli.main(["plan", str(CASES / "_valid"), *flags])
    _, err = capsys.readouterr()
    assert code == 1 and message in err and "Traceback" not in err
    assert listener.requests == []


def test_too_few_docker_engines_exit_1_before_any_call(
    listener: Listener, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POPCON_PROD_DB_PASSWORD", "pw")
    url = f"http://127.0.0.1:{listener.port}"
    code = cli.main(["plan", str(REPO / "examples" / "static-hosts"), "--aws-endpoint-url", url,
                     "--docker-engine", f"tcp://127.0.0.1:{listener.port}"])  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert "environment prod has 2 hosts (web-1, web-2) but 1 Docker engine given (--docker-engine)" in err
    assert listener.requests == []


def test_a_malformed_file_url_as_repository_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["run", "--repo", "file://[x", "--path", "environments/dev", "--once",
                     "--state-dir", str(tmp_path), "--log-format", "text"])  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert "repository file://[x: a file:// URL names a folder" in err


@pytest.mark.parametrize("command", ["validate", "plan", "apply", "status", "history", "suspend"])
def test_an_environment_folder_that_is_a_symlink_loop_is_named(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ln -s loop loop``: the folder is reported like the folder's files are, never a traceback."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loop").symlink_to("loop")
    argv = [command, "loop"] + ([] if command == "validate" else ["--state-dir", str(tmp_path / "state")])
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and "Traceback" not in err
    assert "loop: is a symlink that leads nowhere (dangling, or a loop)" in err


def test_a_repository_that_is_a_symlink_loop_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "loop").symlink_to("loop")
    code = cli.main(["run", "--repo", str(tmp_path / "loop"), "--once", "--state-dir", str(tmp_path / "state"),
                     "--log-format", "text"])  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert f"repository {tmp_path / 'loop'}: is a symlink that leads nowhere (a loop)" in err
