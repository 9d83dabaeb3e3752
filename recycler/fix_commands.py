"""The exact commands that fix or undo something recycler did or could not do: what an alert, a report's
detail and the CLI print for an operator to run (messages.py words the rest)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recycler.report import RevertReport


def drain_hook_howto(group: str) -> str:
    return (
        "aws autoscaling put-lifecycle-hook --auto-scaling-group-name "
        f"{group} --lifecycle-hook-name drain-node --lifecycle-transition autoscaling:EC2_INSTANCE_TERMINATING"
    )


def drainer_howto(group: str) -> list[str]:
    """The drainer a termination hook needs (without one the hook only delays every termination by its
    heartbeat): aws-node-termination-handler in queue mode reads the hook's events from an SQS queue an
    EventBridge rule feeds, drains the node, then completes the hook. Too long for a report's detail
    (checkpointed, capped): the CLI prints it under the table."""
    queue = f"{group}-node-drain"
    pattern = (
        '{"source":["aws.autoscaling"],"detail-type":["EC2 Instance-terminate Lifecycle Action"],'
        f'"detail":{{"AutoScalingGroupName":["{group}"]}}}}'
    )
    return [
        drain_hook_howto(group),
        f"aws sqs create-queue --queue-name {queue}   # its policy: allow events.amazonaws.com sqs:SendMessage",
        f"aws events put-rule --name {queue} --event-pattern '{pattern}'",
        f"aws events put-targets --rule {queue} --targets Id=queue,Arn=<the queue's ARN>",
        "aws-node-termination-handler in queue mode reads it (Helm: enableSqsTerminationDraining=true, "
        "queueURL=<the queue's URL>) and completes the hook once the node is drained",
    ]


def reactivate_command(cluster: str, container_instance: str) -> str:
    return (
        f"aws ecs update-container-instances-state --cluster {cluster} "
        f"--container-instances {container_instance} --status ACTIVE"
    )


def remove_surge_instance_command(instance_id: str) -> str:
    return (
        f"aws autoscaling terminate-instance-in-auto-scaling-group --instance-id {instance_id} "
        "--should-decrement-desired-capacity"
    )


def revert_lines(reverted: list[RevertReport]) -> list[str]:
    """What recycler:revert_on_canary_failure did with each launch path of a condemned image."""
    if not reverted:
        return []
    lines = ["  Launch paths (recycler:revert_on_canary_failure):"]
    for r in reverted:
        moved = f" {r.restored_from} -> {r.restored_to}" if r.restored_to else ""
        lines.append(f"    {r.path}: {r.outcome}{moved}; {r.detail} (groups: {', '.join(r.groups)})")
    return lines


def manual_revert(
    image: str, why: str, template: str | None, version: str | None, image_ref: str | None = None
) -> str:
    """The command for a launch path recycler does not put back itself."""
    if template is None:
        return f"{why}: point the group at a launch template version that launches a proven image"
    if image_ref and image_ref.startswith("resolve:ssm:"):
        return (
            f"the ImageId {image_ref} names a parameter version, label or another account's parameter: "
            "move the label (aws ssm label-parameter-version) or ask its owner to put it back"
        )
    if version == "$Default":
        return f"aws ec2 modify-launch-template --launch-template-id {template} --default-version <last good>"
    return (
        f"the groups launch version {version}, which holds {image}: aws ec2 create-launch-template-version "
        f"--launch-template-id {template} --source-version <last good> (for $Latest), or aws autoscaling "
        f"update-auto-scaling-group --launch-template LaunchTemplateId={template},Version=<last good>"
    )


def launch_path_steps(image: str | None) -> str:
    """How to stop every group's next scale-out from launching a broken image, per launch path."""
    bad = image or "<image>"
    return (
        f"Put the launch path back so scale-outs stop launching {bad}: a launch template's default "
        "version: aws ec2 modify-launch-template --launch-template-id <id> --default-version <last good>; "
        "an SSM parameter the template resolves (resolve:ssm:): aws ssm get-parameter-history --name <name>, "
        "then aws ssm put-parameter --name <name> --value <previous AMI> --overwrite; $Latest: create a "
        "version with the previous AMI (aws ec2 create-launch-template-version --source-version <last good>)."
    )
