"""AMI truth on the emulator: the image a group really launches (SSM aliases, template versions,
mixed instances, launch configurations), how old images are, and drift first under a run limit."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from recycler.aws.compose import aws_services
from recycler.local import emulator
from recycler.models import ManualPayload, Settings
from recycler.workflow.planning import plan
from tests.conftest import NOW, REGION, Stack, World
from tests.faults.harness import recycle


def decisions(world: World, **payload: Any) -> dict[str, Any]:
    services = aws_services(world.session)
    found = plan(services, Settings(), ManualPayload(**payload), NOW, random.Random(1))
    return {d.group: d for d in found}


def alias_template(world: World, parameter: str) -> str:
    return str(
        world.ec2.create_launch_template(
            LaunchTemplateName="golden",
            LaunchTemplateData={"ImageId": f"resolve:ssm:{parameter}", "InstanceType": "t3.micro"},
        )["LaunchTemplate"]["LaunchTemplateId"]
    )


def test_an_ssm_alias_is_resolved_in_the_plan_and_at_launch(stack: Stack) -> None:
    world = stack.world
    ssm = world.session.client("ssm")
    ssm.put_parameter(Name="/golden/ami", Value=world.images[0], Type="String")
    template = alias_template(world, "/golden/ami")
    emulator.create_aged_group(
        world.autoscaling, "web", template, [9, 5], NOW, region=REGION, tags={"recycler:enabled": "true"}
    )
    ssm.put_parameter(Name="/golden/ami", Value=world.images[1], Type="String", Overwrite=True)  # new AMI
    assert decisions(world)["web"].current_image_id == world.images[1]
    report = recycle(stack)
    [web] = report.groups
    assert web.outcome == "recycled" and web.replacement is not None
    assert web.replacement.image_id == world.images[1] and web.replacement.ami_refreshed is True


def test_an_unresolvable_alias_is_unknown_with_the_reason(world: World) -> None:
    template = alias_template(world, "/golden/missing")
    world.session.client("ssm").put_parameter(Name="/golden/missing", Value=world.images[0], Type="String")
    emulator.create_aged_group(
        world.autoscaling, "web", template, [9, 5], NOW, region=REGION, tags={"recycler:enabled": "true"}
    )
    world.session.client("ssm").delete_parameter(Name="/golden/missing")
    web = decisions(world)["web"]
    assert web.current_image_id is None
    assert "resolve:ssm:/golden/missing did not resolve" in (web.current_image_reason or "")


def test_default_and_latest_versions_differ(world: World) -> None:
    world.group("on-default", [9, 5])
    world.group("on-latest", [9, 5])
    world.publish_patched_image()  # $Latest boots images[1]; $Default is still version 1
    emulator.point_group_at(world.autoscaling, "on-default", world.template(), "$Default")
    found = decisions(world)
    assert found["on-default"].current_image_id == world.images[0]
    assert found["on-latest"].current_image_id == world.images[1]


def test_mixed_instances_policy_and_launch_configuration(world: World) -> None:
    template = world.template()
    world.publish_patched_image()
    world.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="mixed",
        MixedInstancesPolicy={
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateId": template, "Version": "$Latest"},
                "Overrides": [{"InstanceType": "t3.micro"}],
            }
        },
        MinSize=1,
        MaxSize=3,
        DesiredCapacity=2,
        AvailabilityZones=["us-east-1a"],
        Tags=emulator.group_tags("mixed", {"recycler:enabled": "true"}),
    )
    world.autoscaling.create_launch_configuration(
        LaunchConfigurationName="legacy-lc", ImageId=world.images[0], InstanceType="t3.micro"
    )
    world.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="configured",
        LaunchConfigurationName="legacy-lc",
        MinSize=1,
        MaxSize=3,
        DesiredCapacity=2,
        AvailabilityZones=["us-east-1a"],
        Tags=emulator.group_tags("configured", {"recycler:enabled": "true"}),
    )
    found = decisions(world)
    assert found["mixed"].current_image_id == world.images[1]
    assert found["configured"].current_image_id == world.images[0]


def test_image_ages_are_days_since_the_ami_was_built(stack: Stack) -> None:
    world = stack.world
    emulator.set_image_created(world.images[0], NOW - timedelta(days=90), REGION)
    emulator.set_image_created(world.images[1], NOW - timedelta(days=2), REGION)
    world.group("web", [1.5, 1.2])  # young instances on a 90-day-old AMI
    world.publish_patched_image()
    report = recycle(stack, dry_run=True)
    [web] = report.groups
    assert web.victim is not None and 89.9 <= (web.victim.image_age_days or 0) <= 90.1
    assert 1.9 <= (web.current_image_age_days or 0) <= 2.1
    assert 89.9 <= (web.oldest_image_age_days or 0) <= 90.1 and web.drifted_instances == 2
    done = recycle(stack)
    assert done.groups[0].replacement is not None and done.groups[0].replacement.image_age_days is not None


def test_a_run_limit_takes_the_groups_where_recycling_fixes_bit_rot_first(world: World) -> None:
    world.group("pinned", [20, 19], template="pinned-lt")  # older, but already on the image it launches
    world.group("stale", [5, 4])
    world.publish_patched_image()  # "stale" launches a new image; "pinned" does not
    found = decisions(world, max_groups=1)
    assert found["stale"].recycle and found["pinned"].reason == "run-limit"


def test_only_the_exact_opt_in_value_is_planned(world: World) -> None:
    world.group("lower", [9, 5])
    world.group("title", [9, 5], enabled="True")
    world.group("off", [9, 5], enabled="false")
    # Discovery lists every group carrying the key (issue 33): a misspelt opt-in is shown, not dropped;
    # a group tagged off is left out.
    fleet = decisions(world)
    assert set(fleet) == {"lower", "title"} and fleet["lower"].recycle and not fleet["title"].recycle
    for named in (fleet["title"], decisions(world, groups=["title"])["title"]):
        assert named.reason == "invalid-tag" and "use lowercase 'true'" in named.detail


def test_an_override_with_its_own_template_decides_the_image_for_its_instance_type(world: World) -> None:
    base = world.template()
    special = world.template("special")
    emulator.publish_image(world.ec2, special, world.images[1])  # only the override's template moved on
    world.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="mixed",
        MixedInstancesPolicy={
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateId": base, "Version": "$Latest"},
                "Overrides": [
                    {
                        "InstanceType": "t3.micro",
                        "LaunchTemplateSpecification": {"LaunchTemplateId": special, "Version": "$Latest"},
                    },
                    {"InstanceType": "m5.large"},
                ],
            }
        },
        MinSize=1,
        MaxSize=3,
        DesiredCapacity=2,
        AvailabilityZones=["us-east-1a"],
        Tags=emulator.group_tags("mixed", {"recycler:enabled": "true"}),
    )
    emulator.backdate(emulator.group_instances(world.autoscaling, "mixed"), NOW - timedelta(days=5), REGION)
    mixed = decisions(world)["mixed"]
    assert mixed.victim is not None and mixed.victim.instance_type == "t3.micro"
    assert mixed.current_image_id == world.images[1]  # the t3.micro override's template
    assert (
        mixed.current_image_reason is not None and f"t3.micro={world.images[1]}" in mixed.current_image_reason
    )
