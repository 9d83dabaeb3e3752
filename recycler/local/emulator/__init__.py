"""Completes moto's emulation of AWS for the demo and the tests; never used against AWS.

moto 5.2 leaves out reads recycler relies on and behaves unlike AWS where recycler's health checks
look: it answers no scaling activities or instance refreshes, counts only InService instances as
capacity, launches every instance healthy and straight to InService, reports every target healthy,
resolves no SSM image aliases and never moves a task off a DRAINING ECS container instance.
recycler treats an unanswered read as unknown, so the emulator answers and behaves as AWS
documents, and lets a test or the demo stage what real replacements do wrong.

Read top down: `state` (everything the emulator knows, one object; reset() starts a fresh one),
`patching` (install(): every patch below, once), then one module per AWS service or concern:
`activities`, `capacity`, `capacity_failures`, `zones`, `launch_hooks`, `warm_pools`, `terminating`,
`faults`, `traffic_sources`, `scale_outs` (Auto Scaling), `target_health` (Elastic Load Balancing; VPC Lattice's
ListTargets is in `traffic_sources`), `ecs`, `ecs_protection`, `images`
(EC2 and SSM), `dynamodb` (DynamoDB's isolation between concurrent requests), `events` and `input_transformer` (EventBridge), `block_public_access` (S3), `codedeploy` (CodeDeploy deployment groups on Auto Scaling groups), `codedeploy_blue_green` (blue/green deployments that copy a group), `throttling` (throttled requests, answered before moto sees them), and `seed` (fleets
for tests and the demo).
"""

from recycler.local.emulator.activities import add_activity, add_instance_refresh
from recycler.local.emulator.block_public_access import EmulatedOrganization, policy_is_public
from recycler.local.emulator.capacity import COUNTED_STATES, scale
from recycler.local.emulator.codedeploy import codedeploy_backend, revision_outcome
from recycler.local.emulator.codedeploy_blue_green import finish_blue_green
from recycler.local.emulator.ecs import drain_time, ecs_agent
from recycler.local.emulator.events import refuse_events
from recycler.local.emulator.faults import (
    FAILURES,
    boot_time,
    forget_instance,
    hold_pending,
    hold_terminating,
    sabotage,
)
from recycler.local.emulator.images import SSM_ALIAS, set_image_created
from recycler.local.emulator.launch_hooks import LAUNCH_TRANSITION, hook_clock
from recycler.local.emulator.patching import install
from recycler.local.emulator.scale_outs import predictive_forecast
from recycler.local.emulator.seed import (
    SimulatedClock,
    backdate,
    create_aged_group,
    create_alarm,
    create_alert_topic,
    create_capacity_provider,
    create_ecs_cluster,
    create_group,
    create_launch_template,
    create_ledger_table,
    create_target_group,
    group_instances,
    group_tags,
    point_group_at,
    publish_image,
    published,
    register_container_instances,
    run_tasks,
    stock_images,
)
from recycler.local.emulator.state import DEFAULT_ACCOUNT, Clock, EmulatorState, current_state, reset
from recycler.local.emulator.terminating import deregistration_delay

__all__ = [
    "COUNTED_STATES",
    "DEFAULT_ACCOUNT",
    "FAILURES",
    "LAUNCH_TRANSITION",
    "SSM_ALIAS",
    "Clock",
    "EmulatedOrganization",
    "EmulatorState",
    "SimulatedClock",
    "add_activity",
    "add_instance_refresh",
    "backdate",
    "boot_time",
    "codedeploy_backend",
    "create_aged_group",
    "create_alarm",
    "create_alert_topic",
    "create_capacity_provider",
    "create_ecs_cluster",
    "create_group",
    "create_launch_template",
    "create_ledger_table",
    "create_target_group",
    "current_state",
    "deregistration_delay",
    "drain_time",
    "ecs_agent",
    "finish_blue_green",
    "forget_instance",
    "group_instances",
    "group_tags",
    "hold_pending",
    "hold_terminating",
    "hook_clock",
    "install",
    "point_group_at",
    "policy_is_public",
    "predictive_forecast",
    "publish_image",
    "published",
    "refuse_events",
    "register_container_instances",
    "reset",
    "revision_outcome",
    "run_tasks",
    "sabotage",
    "scale",
    "set_image_created",
    "stock_images",
]
