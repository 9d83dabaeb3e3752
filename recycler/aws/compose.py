"""The composition root: the real AWS adapters a run uses, built once from the settings, for the
Lambda handler and the CLI alike. Tests build `Services` themselves (every field is injectable)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import boto3

from recycler.aws.brakes import Brakes
from recycler.aws.clients import Clients
from recycler.aws.codedeploy import CodeDeploy
from recycler.aws.ecs import EcsHosts
from recycler.aws.events import Events
from recycler.aws.fleet import Fleet
from recycler.aws.launch_paths import LaunchPaths
from recycler.aws.ledger import Ledger
from recycler.aws.scaling_schedule import ScalingSchedule
from recycler.aws.sns import Alerts
from recycler.aws.verdicts_central import CentralVerdicts
from recycler.models import Settings
from recycler.workflow.org_verdicts import joined
from recycler.workflow.port import Services


def aws_services(
    session: boto3.Session | None = None,
    *,
    settings: Settings | None = None,
    region: str = "us-east-1",
    clock: Callable[[], datetime] | None = None,
) -> Services:
    """Fleet, brakes and ECS on one session's clients; the ledger and alerts only where the settings
    configure them (a local run without them is warned about, not refused), events only with a bus."""
    settings = settings or Settings()
    session = session or boto3.Session()
    clients = Clients(session)
    services = Services(
        fleet=Fleet(clients=clients),
        brakes=Brakes(clients),
        ecs=EcsHosts(clients),
        ledger=Ledger(settings.ledger_table, settings.ledger_ttl_days, session)
        if settings.ledger_table
        else None,
        alerts=Alerts(
            settings.topic_arn,
            session,
            also=[settings.central_topic_arn] if settings.central_topic_arn else [],
        )
        if settings.topic_arn
        else None,
        events=Events(settings.events_bus, session) if settings.events_bus else None,
        launch_paths=LaunchPaths(clients),
        scale_outs=ScalingSchedule(clients),
        clock=clock or (lambda: datetime.now(UTC)),
        region=region,
        codedeploy=CodeDeploy(clients),
    )
    member = settings.membership(region)
    if settings.verdicts_table and member is not None:
        services = joined(services, CentralVerdicts(settings.verdicts_table, member, session))
    return services
