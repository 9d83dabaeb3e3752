"""The run-level brakes (kill switch, stop-condition alarms, blackouts): read at planning, again right
before each group acts, and again after a long drain."""

from __future__ import annotations

from datetime import datetime

from recycler.domain import AWS_ERRORS, Reason
from recycler.messages import aws_error_text
from recycler.models import Settings
from recycler.policy.guards import kill_switch_state, run_guard
from recycler.workflow.port import Services
from recycler.workflow.state import Preflight


def run_level_guard(services: Services, settings: Settings, now: datetime) -> tuple[Reason, str] | None:
    """Kill switch, stop-condition alarms and blackouts: read at planning and again before each act."""
    kill_switch = None
    if settings.kill_switch_parameter:
        kill_switch = kill_switch_state(
            services.brakes.parameter(settings.kill_switch_parameter), settings.kill_switch_parameter
        )
    firing = services.brakes.firing_alarms(settings.stop_alarm_names) if settings.stop_alarm_names else []
    return run_guard(
        now,
        kill_switch=kill_switch,
        firing_alarms=firing,
        blackout_windows=settings.windows(),
        blackout_weekdays=settings.blackout_weekdays,
        maintenance_windows=settings.maintenance(),
        zone=settings.schedule_time_zone,
    )


def brake_pulled(services: Services, settings: Settings) -> Preflight | None:
    """Kill switch, stop alarms, blackout: the refusal when one is on, else None (may raise)."""
    stop = run_level_guard(services, settings, services.clock())
    return None if stop is None else Preflight(ok=False, reason=stop[0].value, detail=stop[1])


def brakes(services: Services, settings: Settings) -> Preflight:
    """The run-level brakes alone, for a check after a long drain; a read that fails counts as a brake
    (when in doubt, do not terminate)."""
    try:
        return brake_pulled(services, settings) or Preflight(ok=True)
    except AWS_ERRORS as error:
        return Preflight(
            ok=False, failed=True, reason=Reason.PREFLIGHT_ERROR.value, detail=aws_error_text(error)
        )
