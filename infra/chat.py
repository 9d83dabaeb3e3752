"""Opt-in chat channels for the alerts: AWS Chatbot (now Amazon Q Developer in chat applications) Slack
and Microsoft Teams channel configurations, from the context key `recycler:chat`:

    {"slack": {"workspace_id": "T0123", "channel_id": "C0123"},
     "teams": {"team_id": "<uuid>", "channel_id": "19:...@thread.tacv2", "tenant_id": "<uuid>"}}

Nothing is synthesized without it. Each channel subscribes to two topics:
- the alert topic, for the CloudWatch alarms that publish to it (Chatbot renders AWS alarm notifications);
- a feed topic, fed by an EventBridge rule on recycler's own events (recycler/workflow/events.py), each
  of which carries its message in Chatbot's custom-notification format (`detail.chat`, delivered by the
  rule's InputPath): Chatbot renders only AWS service notifications and messages in that format
  ("version": "1.0", "source": "custom"), not recycler's plain-text e-mail alerts, and the docs' way to
  get an application's events into a channel is exactly this rule -> SNS -> channel:
  https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html
Not with recycler:organization (read_chat says why).
  A topic of its own keeps the e-mail subscribers of the alert topic from getting every success as JSON.

Permissions: the channel role is what Chatbot assumes for the channel; notifications need only the
"Notification permissions" template (CloudWatch reads for alarm graphs), and the guardrail, which caps
what any channel member can do whatever role they use, is the ReadOnlyAccess managed policy:
https://docs.aws.amazon.com/chatbot/latest/adminguide/understanding-permissions.html
Chatbot subscribes to the topics itself with its service-linked role (AWSServiceRoleForAWSChatbot), so the
topic policies need no statement for it: https://docs.aws.amazon.com/chatbot/latest/adminguide/using-service-linked-roles.html
SNS decrypts a message before it delivers it to an HTTPS endpoint such as Chatbot's, so the subscriber needs
no KMS grant; publishers do: EventBridge publishing to the encrypted feed needs kms:Decrypt and
kms:GenerateDataKey on its key: https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html and
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aws_cdk import Acknowledgment, Aws, Validations
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct, Node

from infra.config import PREFIX, ConfigError
from recycler.aws.events import SOURCE

KEY = f"{PREFIX}chat"
FIELDS = {"slack": ("workspace_id", "channel_id"), "teams": ("team_id", "channel_id", "tenant_id")}
EVENTS_PRINCIPAL = iam.ServicePrincipal("events.amazonaws.com")


@dataclass(frozen=True)
class ChatConfig:
    slack: dict[str, str] | None = None
    teams: dict[str, str] | None = None


def read_chat(node: Node) -> ChatConfig | None:
    """recycler:chat from cdk.json (an object) or `-c recycler:chat='{...}'` (a JSON string)."""
    raw: Any = node.try_get_context(KEY)
    if not raw:  # unset, {} or ""
        return None
    if node.try_get_context(f"{PREFIX}organization") is not None:
        # A channel needs its Slack workspace or Teams tenant authorized by hand in each account's
        # console first (CfnSlackChannelConfiguration), so every stack instance would fail, and with
        # FailureToleranceCount 0 stop the StackSet's operation; the Chatbot API also runs in four
        # regions only: https://docs.aws.amazon.com/general/latest/gr/chatbot.html
        raise ConfigError(
            f"{KEY}: not with {PREFIX}organization (a StackSet cannot create chat channels: each account's "
            "workspace is authorized by hand first); remove it, and have recycler:alert_emails read every "
            "account's failures on the RecyclerCentral topic"
        )
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ConfigError(
                f'{KEY}: not JSON; e.g. {{"slack": {{"workspace_id": ..., "channel_id": ...}}}}'
            ) from None
    if not isinstance(raw, dict) or not raw or set(raw) - set(FIELDS):
        raise ConfigError(f'{KEY}: an object with "slack" and/or "teams" (see docs/record.md, Chat)')
    found: dict[str, dict[str, str]] = {}
    for app, needed in FIELDS.items():
        if app not in raw:
            continue
        given = raw[app]
        if (
            not isinstance(given, dict)
            or set(given) != set(needed)
            or not all(isinstance(v, str) and v.strip() for v in given.values())
        ):
            raise ConfigError(f"{KEY}.{app}: needs exactly {', '.join(needed)} (non-empty strings)")
        found[app] = {k: v.strip() for k, v in given.items()}
    teams_channel = found.get("teams", {}).get("channel_id", "")
    if ":" in teams_channel or "@" in teams_channel:
        # CloudFormation takes the id as the channel's link carries it, URL-encoded (19%3a...%40thread...).
        raise ConfigError(
            f"{KEY}.teams.channel_id: URL-encode it as in the channel's link (: is %3a, @ is %40)"
        )
    return ChatConfig(**found)


class ChatChannels(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, alerts: sns.ITopic, key: kms.Key, chat: ChatConfig
    ) -> None:
        super().__init__(scope, construct_id)
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[EVENTS_PRINCIPAL],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        self.feed = sns.Topic(self, "Feed", display_name="recycler events", master_key=key, enforce_ssl=True)
        self._feed_rules()
        self.role = iam.Role(
            self,
            "ChannelRole",
            assumed_by=iam.ServicePrincipal("chatbot.amazonaws.com"),
            description="recycler chat channels: notifications only (CloudWatch reads for alarm graphs)",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="NotificationPermissions",
                actions=["cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*"],
                resources=["*"],
            )
        )
        Validations.of(self.role).acknowledge(
            *[
                Acknowledgment(
                    id=f"AwsSolutions::AwsSolutions-IAM5[{finding}]",
                    reason="Chatbot's documented notification-permissions template: CloudWatch reads for the "
                    "graphs of alarm notifications, capped by the ReadOnlyAccess guardrail.",
                )
                for finding in (
                    "Resource::*",
                    "Action::cloudwatch:Describe*",
                    "Action::cloudwatch:Get*",
                    "Action::cloudwatch:List*",
                )
            ]
        )
        common: dict[str, Any] = {
            "iam_role_arn": self.role.role_arn,
            "sns_topic_arns": [alerts.topic_arn, self.feed.topic_arn],
            "guardrail_policies": [f"arn:{Aws.PARTITION}:iam::aws:policy/ReadOnlyAccess"],
            "logging_level": "ERROR",
            "user_role_required": False,
        }
        # A configuration name is unique in the account (Chatbot is global): the region keeps stacks of
        # one account in several regions apart.
        if chat.slack:
            self.slack = chatbot.CfnSlackChannelConfiguration(
                self,
                "Slack",
                configuration_name=f"recycler-{Aws.REGION}-slack",
                slack_workspace_id=chat.slack["workspace_id"],
                slack_channel_id=chat.slack["channel_id"],
                **common,
            )
        if chat.teams:
            self.teams = chatbot.CfnMicrosoftTeamsChannelConfiguration(
                self,
                "Teams",
                configuration_name=f"recycler-{Aws.REGION}-teams",
                team_id=chat.teams["team_id"],
                teams_channel_id=chat.teams["channel_id"],
                teams_tenant_id=chat.teams["tenant_id"],
                **common,
            )

    def _feed_rules(self) -> None:
        """recycler's events as Chatbot custom notifications: each event carries its message whole
        (`detail.chat`, rendered by recycler/workflow/events.py) and the rules deliver that part of the
        event as it is (a target's InputPath: JSON whatever the texts hold). An input template that put
        `<$.detail.reason>` inside a quoted string made invalid JSON of a detail with a quote or a
        newline: EventBridge substitutes the value as plain text, unescaped.
        https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html"""
        message = events.RuleTargetInput.from_event_path("$.detail.chat")
        groups = events.Rule(
            self,
            "GroupOutcomes",
            description="recycler group outcomes to the chat feed",
            event_pattern=events.EventPattern(
                source=[SOURCE], detail_type=["Recycle Succeeded", "Recycle Failed", "Recycle Skipped"]
            ),
        )
        groups.add_target(targets.SnsTopic(self.feed, message=message))
        runs = events.Rule(
            self,
            "RunsCompleted",
            description="recycler run summaries to the chat feed",
            event_pattern=events.EventPattern(source=[SOURCE], detail_type=["Run Completed"]),
        )
        runs.add_target(targets.SnsTopic(self.feed, message=message))
