"""The rollout section of an Environment as the planner's :class:`~reconciler.core.fleet.RolloutSpec`. Pure."""

from __future__ import annotations

from reconciler.core.fleet import Amount, HealthCheckSpec, RolloutSpec, parse_duration
from reconciler.core.rotation import LaunchHookSpec, LaunchTemplateRef, Rotation, UnhealthyReplacement
from reconciler.spec.documents.rollout import AMOUNT_RE, HealthCheckSection, RolloutSection
from reconciler.spec.documents.rotation import LaunchTemplateSection, ReplaceUnhealthySection


def _amount(value: object) -> Amount:
    if isinstance(value, int):
        return Amount(value)
    match = AMOUNT_RE.fullmatch(str(value))
    return Amount(int(match.group(1)), percent=True) if match else Amount(1)


def _seconds(text: str) -> float:
    seconds = parse_duration(text)
    return 0.0 if seconds is None else seconds  # the model validated it


def _health_check(section: HealthCheckSection) -> HealthCheckSpec:
    return HealthCheckSpec(
        service=section.service,
        path=section.path,
        port=section.port,
        interval=_seconds(section.interval),
        attempts=section.attempts,
        timeout=_seconds(section.timeout),
    )


def launch_template(section: LaunchTemplateSection | None) -> LaunchTemplateRef | None:
    """A fleet host entry's ``launchTemplate`` (its version as digits, ``"07"`` read as ``"7"``)."""
    if section is None:
        return None
    return LaunchTemplateRef(section.name, str(int(str(section.version))))


def _replace_unhealthy(value: ReplaceUnhealthySection | None) -> UnhealthyReplacement | None:
    return None if value is None else UnhealthyReplacement(value.unreachable_ticks)


def rollout_spec(section: RolloutSection | None) -> RolloutSpec:
    """The rollout rules of ``section`` (the defaults when there is none)."""
    if section is None:
        return RolloutSpec()
    balancer = section.load_balancer
    return RolloutSpec(
        batch=_amount(section.batch),
        min_healthy=None if section.min_healthy is None else _amount(section.min_healthy),
        target_groups=tuple(balancer.target_groups) if balancer else (),
        drain_timeout=_seconds(balancer.drain_timeout) if balancer and balancer.drain_timeout else None,
        health_check=_health_check(section.health_check) if section.health_check else None,
        alarms=tuple(section.alarms),
        bake=_seconds(section.bake),
        auto_rollback=section.auto_rollback,
        rotation=Rotation(section.rotation),
        launch_hook=(
            LaunchHookSpec(section.launch_hook.name, _seconds(section.launch_hook.timeout))
            if section.launch_hook
            else None
        ),
        replace_unhealthy=_replace_unhealthy(section.replace_unhealthy),
    )
