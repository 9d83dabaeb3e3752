"""Elastic Load Balancing (v2) target health, which moto 5.2 reports healthy for every target (even a
terminated one): a replacement that sabotage() marked target-unhealthy fails its health checks here.
"""

from __future__ import annotations

from typing import Any

from recycler.local.emulator.state import current_state


def sabotage_target_health() -> None:
    """DescribeTargetHealth reports a target sabotage() marked target-unhealthy as failing its checks."""
    from moto.elbv2.models import FakeHealthStatus
    from moto.elbv2.responses import ELBV2Response

    original = ELBV2Response.describe_target_health

    def describe_target_health(self: Any) -> Any:
        result = original(self)
        body: Any = result.result
        descriptions = body["TargetHealthDescriptions"]
        body["TargetHealthDescriptions"] = [
            FakeHealthStatus(
                d.instance_id,
                d.port,
                d.health_check_port,
                "unhealthy",
                "Target.FailedHealthChecks",
                "Health checks failed",
            )
            if d.instance_id in current_state().unhealthy_targets
            else d
            for d in descriptions
        ]
        return result

    ELBV2Response.describe_target_health = describe_target_health  # type: ignore[method-assign]
