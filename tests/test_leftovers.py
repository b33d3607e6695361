"""What an interrupted run left in the state dir is removed before the next one acts (files only)."""

from __future__ import annotations

from pathlib import Path

from reconciler.core.events import Event, LeftoverRemoved
from reconciler.core.plan import Plan
from reconciler.executor import Drivers, execute
from reconciler.render import event_line


def test_env_files_and_half_written_files_are_removed_overrides_stay(tmp_path: Path) -> None:
    state = tmp_path / "dev"
    (state / "web-1").mkdir(parents=True)
    (state / "popcon.env").write_text("DB_PASSWORD='s3cret'\n")  # what older versions wrote
    (state / "web-1" / ".popcon.override.yml.4242.tmp").write_text("half")
    (state / "web-1" / "popcon.override.yml").write_text("services: {}\n")
    events: list[Event] = []

    def no_host(name: str) -> object:
        raise AssertionError("an empty plan touches no host")

    report = execute(
        Plan(environment="dev"),
        Drivers(ssm=None, hosts=no_host),  # type: ignore[arg-type]
        state_dir=state,
        on_event=events.append,
    )
    assert report.ok
    assert sorted(p.name for p in state.rglob("*") if p.is_file()) == ["popcon.override.yml"]
    removed = [e for e in events if isinstance(e, LeftoverRemoved)]
    assert {Path(e.path).name for e in removed} == {"popcon.env", ".popcon.override.yml.4242.tmp"}
    lines = [event_line(e) for e in removed]
    assert any(line and "an env file (it may hold secrets)" in line for line in lines)
    assert all("s3cret" not in (line or "") for line in lines)
