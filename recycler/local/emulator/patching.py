"""install(): teach moto, once per process, everything this package knows about AWS.

Each module patches the moto classes of its own concern; this one applies them in a fixed order,
under a lock, and only once (patching twice would wrap the emulator's wrappers in themselves).
"""

from __future__ import annotations

import threading

from recycler.local.emulator.activities import answer_activity_reads
from recycler.local.emulator.block_public_access import block_public_access_like_aws
from recycler.local.emulator.capacity import reconcile_like_aws, termination_policies_like_aws
from recycler.local.emulator.codedeploy import codedeploy_like_aws
from recycler.local.emulator.codedeploy_blue_green import blue_green_like_aws
from recycler.local.emulator.dynamodb import isolation_like_aws
from recycler.local.emulator.ecs import ecs_like_aws
from recycler.local.emulator.ecs_protection import ecs_protection_like_aws
from recycler.local.emulator.events import events_like_aws
from recycler.local.emulator.faults import sabotage_replacements
from recycler.local.emulator.images import resolve_ssm_aliases
from recycler.local.emulator.input_transformer import targets_like_aws
from recycler.local.emulator.launch_hooks import lifecycle_hooks_like_aws
from recycler.local.emulator.organization_verdicts import organization_verdicts_like_aws
from recycler.local.emulator.scale_outs import predictive_forecasts_like_aws
from recycler.local.emulator.target_health import sabotage_target_health
from recycler.local.emulator.terminating import deregister_leaving_like_aws
from recycler.local.emulator.traffic_sources import traffic_sources_like_aws
from recycler.local.emulator.warm_pools import warm_pools_like_aws

_lock = threading.Lock()
_installed: list[bool] = []


def install() -> None:
    """Teach moto's responses the reads it lacks and AWS's behaviour where it differs; idempotent."""
    with _lock:
        if _installed:
            return
        from moto.autoscaling.responses import AutoScalingResponse

        answer_activity_reads(AutoScalingResponse)
        reconcile_like_aws()
        resolve_ssm_aliases()
        sabotage_replacements(AutoScalingResponse)
        termination_policies_like_aws(AutoScalingResponse)
        sabotage_target_health()
        ecs_like_aws()
        ecs_protection_like_aws()
        lifecycle_hooks_like_aws(AutoScalingResponse)
        traffic_sources_like_aws(AutoScalingResponse)
        warm_pools_like_aws(AutoScalingResponse)
        predictive_forecasts_like_aws(AutoScalingResponse)
        deregister_leaving_like_aws()
        events_like_aws()
        targets_like_aws()
        block_public_access_like_aws()
        organization_verdicts_like_aws()
        codedeploy_like_aws()
        blue_green_like_aws()
        isolation_like_aws()
        _installed.append(True)
