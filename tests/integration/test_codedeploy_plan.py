"""Planning reads CodeDeploy in batches, counted in the planning call bound (recycler/aws/codedeploy.py)."""

from __future__ import annotations

from recycler.aws.codedeploy import codedeploy_call_floor
from recycler.aws.fleet import planning_call_floor
from tests.conftest import World
from tests.integration.test_plan import CallLog, decisions


def test_codedeploy_reads_stay_within_the_planning_bound(world: World) -> None:
    groups, per_group = 40, 2
    for n in range(groups):
        world.group(f"g{n:02d}", [5, 4])
    codedeploy = world.session.client("codedeploy")
    per_application = {"shop": 6, "search": 4, "idle": 0}
    named = iter(range(groups))
    for application, count in per_application.items():
        codedeploy.create_application(applicationName=application, computePlatform="Server")
        for _ in range(count):
            n = next(named)
            codedeploy.create_deployment_group(
                applicationName=application,
                deploymentGroupName=f"dg{n:02d}",
                autoScalingGroups=[f"g{n:02d}"],
                serviceRoleArn="arn:aws:iam::123456789012:role/codedeploy",
            )
    log = CallLog(world.session)
    found = decisions(world, max_groups=groups)
    planned = sum(1 for d in found.values() if d.recycle)
    assert planned == groups
    targeting = sum(per_application.values())
    own = [name for name, _ in log.calls if name.startswith("codedeploy.")]
    assert len(own) == codedeploy_call_floor(list(per_application.values()), targeting)
    # planning_call_floor already counts the one ListApplications an account without CodeDeploy makes.
    bound = planning_call_floor(groups, groups * per_group, 1, planned) - 1
    bound += codedeploy_call_floor(list(per_application.values()), targeting)
    assert len(log.calls) <= bound + 2, log.count()
