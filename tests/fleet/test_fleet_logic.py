"""The fleet's pure parts: names and paths, the ssh client configuration, which instances get an engine,
and how the load balancer follows registrations (HAProxy's runtime API faked, time injected)."""

from __future__ import annotations

from pathlib import Path

from reconciler.sandbox.fleet import followed, keys
from reconciler.sandbox.fleet.balancer import Follower
from reconciler.sandbox.fleet.converge import wanted
from reconciler.sandbox.fleet.haproxy import Runtime, Server, admin_state
from reconciler.sandbox.fleet.layout import FleetFiles, InstanceEngine
from reconciler.sandbox.fleet.view import FleetInstance, GroupView, Target, TargetGroupView
from reconciler.sandbox.processes import Clock

BACKEND = "popcon-prod-frontend"


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class FakeRuntime(Runtime):
    """HAProxy's servers as the runtime commands leave them."""

    def __init__(self) -> None:
        super().__init__(Path("/nonexistent"))
        self.state: dict[str, Server] = {}
        self.log: list[str] = []

    def servers(self, backend: str) -> dict[str, Server]:
        assert backend == BACKEND
        return dict(self.state)

    def _set(self, name: str, admin: str, sessions: int | None = None, status: str | None = None) -> None:
        old = self.state[name]
        down = old.down_transitions + (status == "DOWN" and old.status.startswith("UP"))
        sessions = old.sessions if sessions is None else sessions
        self.state[name] = Server(name, old.address, status or old.status, sessions, admin, down_transitions=down)

    def must(self, line: str) -> None:
        self.log.append(line)
        words = line.split()
        name = next(w for w in words if w.startswith(f"{BACKEND}/")).split("/", 1)[1]
        if words[:2] == ["add", "server"]:
            self.state[name] = Server(name, words[3], "MAINT", 0, "maint")
        elif words[:2] == ["enable", "server"]:
            self._set(name, "ready", status="UP")  # as HAProxy does: health at `rise`
        elif line.endswith("state ready"):
            self._set(name, "ready")
        elif line.endswith("health down"):
            self._set(name, self.state[name].admin, status="DOWN")
        elif line.endswith("state drain"):
            self._set(name, "drain")
        elif line.endswith("state maint"):
            self._set(name, "maint")
        elif words[:2] == ["shutdown", "sessions"]:
            self._set(name, self.state[name].admin, sessions=0)
        elif words[:2] == ["del", "server"]:
            assert self.state[name].admin == "maint" and self.state[name].sessions == 0, "HAProxy would refuse"
            del self.state[name]


def _tg(*targets: Target, delay: float = 5.0) -> TargetGroupView:
    return TargetGroupView("arn:tg", BACKEND, 3000, "/health", 5.0, 2, 3, delay, targets)


def _follower(declarations: Path | None = None) -> tuple[Follower, FakeRuntime, FakeClock, list[str]]:
    runtime, clock, events = FakeRuntime(), FakeClock(), []
    follower = Follower(FleetFiles(Path("/nonexistent")), 8080, Clock(clock.now, clock.sleep), runtime=runtime,
                        declarations=declarations)  # fmt: skip
    return follower, runtime, clock, events


A = Target("i-a", "10.90.1.4", 3000)
B = Target("i-b", "10.90.1.5", 3000)


def test_a_registration_reaches_the_load_balancer_after_the_propagation_delay_and_starts_down() -> None:
    follower, runtime, clock, events = _follower()
    follower.apply(_tg(A), events.append)
    clock.t = 0.9
    follower.apply(_tg(A), events.append)
    assert runtime.log == []
    clock.t = 1.0
    follower.apply(_tg(A), events.append)
    assert runtime.log == [
        f"add server {BACKEND}/i-a 10.90.1.4:3000 check inter 1000ms rise 2 fall 3 weight 0",  # no request yet
        f"enable health {BACKEND}/i-a",
        f"enable server {BACKEND}/i-a",  # HAProxy enables it UP
        f"set server {BACKEND}/i-a health down",  # in service only after `rise` good checks
        f"set server {BACKEND}/i-a weight 1",
    ]
    assert runtime.state["i-a"].status == "DOWN"
    clock.t = 5.0
    follower.apply(_tg(A), events.append)
    assert len(runtime.log) == 5  # nothing more to do
    assert events == ["load balancer: i-a (10.90.1.4:3000) registered; in service once its health checks pass"]


def test_a_deregistered_target_drains_then_goes_once_idle() -> None:
    follower, runtime, clock, events = _follower()
    # i-a fails its health checks already: a DOWN server drains and goes as well
    runtime.state = {"i-a": Server("i-a", "10.90.1.4:3000", "DOWN", 0), "i-b": Server("i-b", "10.90.1.5:3000", "UP", 0)}
    follower.apply(_tg(B), events.append)  # i-a deregistered in moto
    assert runtime.state["i-a"].admin == "ready"  # not yet: propagation
    clock.t = 1.0
    follower.apply(_tg(B), events.append)
    assert runtime.state["i-a"].admin == "drain" and runtime.state["i-a"].status == "DOWN"
    clock.t = 1.5
    follower.apply(_tg(B), events.append)
    assert "i-a" not in runtime.state and "i-b" in runtime.state  # no session left: removed
    assert f"shutdown sessions server {BACKEND}/i-a" not in runtime.log
    assert events[-1] == "load balancer: i-a (10.90.1.4:3000) removed (drained)"


def test_a_draining_target_with_requests_in_flight_stays_until_the_deregistration_delay() -> None:
    follower, runtime, clock, events = _follower()
    runtime.state = {"i-a": Server("i-a", "10.90.1.4:3000", "UP", 2)}
    follower.apply(_tg(delay=5.0), events.append)
    clock.t = 1.0
    follower.apply(_tg(delay=5.0), events.append)  # drains from t=1
    for t in (2.0, 4.0, 5.9):
        clock.t = t
        follower.apply(_tg(delay=5.0), events.append)
        assert runtime.state["i-a"].admin == "drain"  # its two requests still run
    clock.t = 6.0
    follower.apply(_tg(delay=5.0), events.append)
    assert "i-a" not in runtime.state
    assert runtime.log[-3:] == [f"shutdown sessions server {BACKEND}/i-a", f"set server {BACKEND}/i-a state maint",
                                f"del server {BACKEND}/i-a"]  # fmt: skip
    assert events[-1] == "load balancer: i-a (10.90.1.4:3000) removed (deregistration delay over)"


def test_registered_again_while_draining_it_is_made_ready_not_removed() -> None:
    follower, runtime, clock, events = _follower()
    runtime.state = {"i-a": Server("i-a", "10.90.1.4:3000", "DRAIN", 1, "drain")}
    follower.apply(_tg(A), events.append)
    clock.t = 1.0
    follower.apply(_tg(A), events.append)
    assert runtime.log == [f"set server {BACKEND}/i-a health down", f"set server {BACKEND}/i-a state ready"]
    assert runtime.state["i-a"].admin == "ready"


def test_a_terminated_instance_moto_keeps_registered_is_taken_out_and_a_moved_one_replaced() -> None:
    follower, runtime, clock, events = _follower()
    runtime.state = {"i-a": Server("i-a", "10.90.1.4:3000", "UP", 0), "i-b": Server("i-b", "10.90.1.9:3000", "UP", 0)}
    terminated = Target("i-a", "10.90.1.4", 3000, "terminated")
    follower.apply(_tg(terminated, B), events.append)
    clock.t = 1.0
    follower.apply(_tg(terminated, B), events.append)
    assert runtime.state["i-a"].admin == "drain"
    assert runtime.state["i-b"].address == "10.90.1.5:3000"  # re-added on its new address


def test_admin_state_flags() -> None:
    assert [admin_state(f) for f in (0, 0x08, 0x10, 0x01, 0x09, 0x20)] == ["ready", "drain", "drain", "maint", "maint",
                                                                        "maint"]  # fmt: skip


def test_engines_only_for_instances_that_run() -> None:
    def inst(i: str, ip: str, state: str) -> FleetInstance:
        return FleetInstance(i, ip, "InService", "Healthy", state)

    view = GroupView("g", True, (inst("i-a", "10.90.1.4", "running"), inst("i-b", "10.90.1.5", "pending"),
                                 inst("i-c", "10.90.1.6", "terminated"), inst("i-d", "", "running")))  # fmt: skip
    assert wanted([view]) == {"i-a": InstanceEngine("i-a", "10.90.1.4"), "i-b": InstanceEngine("i-b", "10.90.1.5")}


def test_instance_names_and_paths_fit_the_kernels_limits() -> None:
    engines = [InstanceEngine(f"i-{n:017x}", f"10.90.1.{n}") for n in range(4, 254)]
    assert len({e.veth for e in engines}) == len(engines)
    assert all(len(e.veth) <= 15 and len(e.veth_peer) <= 15 for e in engines)  # IFNAMSIZ
    assert all(len(str(e.socket)) < 108 for e in engines)  # sun_path
    assert engines[0].docker_url == "ssh://root@10.90.1.4"
    assert engines[0].dockerd_argv("dockerd")[:3] == ["nsenter", "--net=/run/netns/rcfleet-i-00000000000000004", "--"]
    config = engines[0].sshd_config(FleetFiles(Path("/s")))
    assert "ListenAddress 10.90.1.4:22" in config and "PasswordAuthentication no" in config
    assert f"SetEnv DOCKER_HOST=unix://{engines[0].socket}" in config


def test_the_ssh_client_configuration_names_the_key_and_checks_host_keys() -> None:
    files = FleetFiles(Path("/state"))
    text = keys.client_config(files)
    assert text.startswith(f"{keys.MARKER} (state dir /state)")
    assert "Host 10.90.1.*" in text and "IdentityFile /state/fleet/ssh/id_ed25519" in text
    assert "StrictHostKeyChecking yes" in text and "UserKnownHostsFile /state/fleet/ssh/known_hosts" in text


def test_the_follower_declares_what_it_follows_and_each_servers_baseline(tmp_path: Path) -> None:
    follower, runtime, clock, events = _follower(tmp_path)
    runtime.state = {"i-b": Server("i-b", "10.90.1.5:3000", "UP", 1, "drain", down_transitions=3)}
    follower.apply(_tg(A, B), events.append)
    (group,) = followed.read(tmp_path, followed.FLEET).groups  # type: ignore[union-attr]
    assert (group.arn, group.backend, group.check_interval, group.unhealthy_threshold) == ("arn:tg", BACKEND, 1.0, 3)
    assert group.baselines == {}  # nothing registered yet (propagation)
    clock.t = 1.0
    follower.apply(_tg(A, B), events.append)
    declared = followed.read(tmp_path, followed.FLEET)
    assert declared is not None and declared.admin_socket == "/nonexistent"
    assert declared.groups[0].baselines == {"i-a": 1, "i-b": 4}  # after the forced UP -> DOWN of each
    again, _, _, _ = _follower(tmp_path)  # a restarted agent keeps the baselines
    again.runtime = runtime
    clock.t = 2.0
    runtime.state["i-a"] = Server("i-a", "10.90.1.4:3000", "UP", 0, down_transitions=1)
    runtime.state["i-b"] = Server("i-b", "10.90.1.5:3000", "UP", 0, down_transitions=4)
    again.apply(_tg(A), events.append)  # i-b deregistered: not yet (propagation), still declared
    assert followed.read(tmp_path, followed.FLEET).groups[0].baselines == {"i-a": 1, "i-b": 4}  # type: ignore[union-attr]
