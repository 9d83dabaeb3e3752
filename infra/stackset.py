"""`recycler:organization`: the member stack as one service-managed CloudFormation StackSet.

- RecyclerOrganization (in organization.central, the StackSet administrator: the management account or
  a delegated administrator) holds the AWS::CloudFormation::StackSet: OU targets, auto-deployment to
  accounts that join them, and a canary rollout (one account at a time, one region after another, no
  failure tolerated).
- RecyclerAssets-<region> (organization.central's account, one per target region) holds the bucket
  `<asset_bucket_prefix>-<region>` the member template's Lambda code is read from: Lambda reads a
  function's code from a bucket in the function's own region (it may be another account's), so every
  target region needs its copy; a BucketDeployment puts the same zip there on every deploy, and the
  bucket policy lets principals of the organization (a fixed aws:PrincipalOrgID) in its OUs read it.
  https://docs.aws.amazon.com/lambda/latest/api/API_FunctionCode.html
- The member template is synthesized by a separate app with a synthesizer that names that bucket
  (`${AWS::Region}` substituted per stack instance) and no bootstrap resource: no asset parameter, no
  BootstrapVersion rule, so member accounts need no `cdk bootstrap`. It is inlined as TemplateBody.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from typing import Any

from aws_cdk import (
    Acknowledgment,
    App,
    AssetHashType,
    DefaultStackSynthesizer,
    Environment,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_cloudformation as cloudformation
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from infra.bundling import ROOT, asset_hash, bundling_options
from infra.central import Publishers
from infra.config import PREFIX, ConfigError
from infra.org_verdicts import read_rings, ring_stack_sets
from infra.organization import Organization
from recycler.policy.rings import Ring

STACK_SET_NAME = "recycler"
MEMBER_STACK = "RecyclerMember"
# CreateStackSet TemplateBody: at most 51,200 bytes.
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackSet.html
TEMPLATE_BODY_LIMIT = 51_200


def member_synthesizer(organization: Organization) -> DefaultStackSynthesizer:
    """Assets in `<prefix>-${AWS::Region}` under their hash (what BucketDeployment writes with
    extract=false: the staged object's base name, `<hash>.zip`); nothing from a bootstrap stack."""
    return DefaultStackSynthesizer(
        file_assets_bucket_name=f"{organization.asset_bucket_prefix}-${{AWS::Region}}",
        bucket_prefix="",
        generate_bootstrap_version_rule=False,
    )


def member_template(
    context: dict[str, Any],
    organization: Organization,
    build_member: Callable[[App, DefaultStackSynthesizer], Stack],
) -> dict[str, Any]:
    """The member template, from an app of its own (so it is no `cdk deploy` artifact), cdk-nag checked.
    Bundling is skipped there: the template needs the asset's hash only, and the zip is built for the
    RecyclerAssets stacks, from the same options and so with the same hash."""
    with tempfile.TemporaryDirectory() as outdir:
        # post_cli_context: over what the CLI passes (CDK_CONTEXT_JSON), which would bundle here too.
        app = App(context=context, post_cli_context={"aws:cdk:bundling-stacks": []}, outdir=outdir)
        stack = build_member(app, member_synthesizer(organization))
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
        template: dict[str, Any] = app.synth().get_stack_by_name(stack.stack_name).template
    return template


def code_source() -> s3deploy.ISource:
    """The Lambda bundle exactly as infra/function.py builds it (same bundling, same custom hash)."""
    return s3deploy.Source.asset(
        str(ROOT / "recycler"),
        bundling=bundling_options(),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=asset_hash(),
    )


class RecyclerAssetsStack(Stack):
    """The code bucket of one target region, readable by the organization's OUs."""

    def __init__(
        self, scope: Construct, construct_id: str, *, organization: Organization, region: str, **kwargs: Any
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=Environment(account=organization.central.account, region=region),
            **kwargs,
        )
        self.bucket = s3.Bucket(
            self,
            "Code",
            bucket_name=organization.asset_bucket(region),
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Lambda fetches the code with the credentials of whoever creates or updates the function: the
        # StackSet's execution role (stacksets-exec-*) in each member account.
        self.bucket.add_to_resource_policy(organization_reads(organization, self.bucket))
        self.deployment = s3deploy.BucketDeployment(
            self,
            "Upload",
            sources=[code_source()],
            destination_bucket=self.bucket,
            extract=False,
            # Older zips stay: a stack instance not yet updated (the rollout is one account at a time)
            # still points at its version's object.
            prune=False,
            retain_on_delete=True,
        )
        self._acknowledge()

    def _acknowledge(self) -> None:
        Validations.of(self.bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason="Holds build artifacts only (the recycler zip), written by this stack's BucketDeployment; "
                "CloudTrail data events are the audit trail if one is needed.",
            )
        )
        for finding, reason in {
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]": (
                "CDK's BucketDeployment handler writes its own logs; the managed policy grants exactly that."
            ),
            "AwsSolutions-L1": "CDK's BucketDeployment handler: its runtime is CDK's choice, updated with aws-cdk-lib.",
        }.items():
            Validations.of(self).acknowledge(Acknowledgment(id=finding, reason=reason))
        copy = (
            "CDK's BucketDeployment handler copies from the bootstrap staging bucket into this one bucket: "
            "CDK grants it read on the staging bucket's objects and read/write on this bucket's, nothing else."
        )
        staging = f"arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-{self.account}-{self.region}/*"
        code = f"<{self.get_logical_id(self.bucket.node.default_child)}.Arn>/*"  # type: ignore[arg-type]
        for finding in (
            *(
                f"Action::s3:{action}"
                for action in ("Abort*", "DeleteObject*", "GetBucket*", "GetObject*", "List*")
            ),
            f"Resource::{staging}",
            f"Resource::{code}",
        ):
            Validations.of(self).acknowledge(
                Acknowledgment(id=f"AwsSolutions::AwsSolutions-IAM5[{finding}]", reason=copy)
            )


def organization_reads(organization: Organization, bucket: s3.IBucket) -> iam.PolicyStatement:
    """Principals of the organization may read the code, limited by a fixed aws:PrincipalOrgID.

    The bucket keeps all four Block Public Access settings on. S3 counts a policy public unless every
    statement granting `*` is limited by a fixed value (no wildcard) of one of a short list of keys, an
    organization's id among them ("An AWS principal, user, role, or service principal (e.g.
    aws:PrincipalOrgID)"): the OU paths alone, being patterns (`o-*/*/ou-.../*`), left the policy public,
    so BlockPublicPolicy refused the PutBucketPolicy, and RestrictPublicBuckets would have let only this
    account read a public one. The OU paths stay as a further limit (members of the target OUs only).
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html#access-control-block-public-access-policy-status
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_PublicAccessBlockConfiguration.html"""
    return iam.PolicyStatement(
        sid="OrganizationReadsRecyclerCode",
        principals=[iam.AnyPrincipal()],
        actions=["s3:GetObject"],
        resources=[bucket.arn_for_objects("*")],
        conditions={
            "StringEquals": {"aws:PrincipalOrgID": organization.organization_id},
            "ForAnyValue:StringLike": {
                "aws:PrincipalOrgPaths": Publishers(
                    organizational_units=organization.organizational_units
                ).org_paths()
            },
        },
    )


class RecyclerOrganizationStack(Stack):
    """The StackSet, in the administrator account and region."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        organization: Organization,
        template: dict[str, Any],
        rings: tuple[Ring, ...] = (),
        **kwargs: Any,
    ) -> None:
        central = organization.central
        self.rings = rings
        super().__init__(
            scope, construct_id, env=Environment(account=central.account, region=central.region), **kwargs
        )
        body = json.dumps(template, separators=(",", ":"))
        if len(body.encode()) > TEMPLATE_BODY_LIMIT:
            raise ConfigError(
                f"{PREFIX}organization: the member template is {len(body.encode())} bytes and a StackSet "
                "TemplateBody holds 51,200; drop optional recycler:* context that adds resources to every member"
            )
        planned = ring_stack_sets(organization, rings)
        self.stack_sets = [self._stack_set(organization, body, ring, units) for ring, units in planned]
        # A ring's StackSet after the one over the other OUs: when a ring of OUs is added, the update that
        # takes the OU from the base StackSet (deleting its stack instances there) ends before the ring's
        # StackSet creates stacks with the same fixed names (roles, the kill switch parameter) in them.
        # ring_stack_sets puts the StackSet over the other OUs (ring None) first, when there is one.
        if planned[0][0] is None:
            for ring_stack_set in self.stack_sets[1:]:
                ring_stack_set.add_dependency(self.stack_sets[0])

    def _stack_set(
        self, organization: Organization, body: str, ring: Ring | None, units: tuple[str, ...]
    ) -> cloudformation.CfnStackSet:
        """The StackSet over `units`; a ring's own StackSet tells its members the ring's OUs (a member
        cannot read its OU), as a StackSet-level value: accounts that join the OU later get it too."""
        parameters = [
            cloudformation.CfnStackSet.ParameterProperty(
                parameter_key="KillSwitchValue", parameter_value=organization.kill_switch
            )
        ]
        if any(r.organizational_units for r in self.rings):
            parameters.append(
                cloudformation.CfnStackSet.ParameterProperty(
                    parameter_key="OrganizationalUnits",
                    parameter_value=",".join(ring.organizational_units) if ring else "",
                )
            )
        index = self.rings.index(ring) if ring else None
        # StackSetName: a letter, then letters, digits and hyphens; a ring's name may hold . and _.
        suffix = "" if ring is None else f"-ring{index}-" + re.sub(r"[^A-Za-z0-9-]", "-", ring.name)
        # https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-cloudformation-stackset.html
        return cloudformation.CfnStackSet(
            self,
            "StackSet" if index is None else f"StackSetRing{index}",
            stack_set_name=STACK_SET_NAME + suffix,
            description="recycler: daily replacement of the oldest instance per Auto Scaling group, every account",
            # Service-managed: StackSets creates the roles in each target account (trusted access with
            # Organizations); targets are OUs. It never deploys to the management account, even when
            # that account is in a target OU (docs/many-accounts.md: Organization rollout, for how to cover it).
            # https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeploymentTargets.html
            permission_model="SERVICE_MANAGED",
            # SELF from the management account, DELEGATED_ADMIN from a registered delegated administrator.
            # https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackSet.html
            call_as=organization.call_as,
            # An account that joins a target OU gets the stack; one that leaves loses it (its ledger table,
            # log group and keys stay: they are DeletionPolicy Retain, kept when their stack is deleted).
            # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-cloudformation-stackset-autodeployment.html
            auto_deployment=cloudformation.CfnStackSet.AutoDeploymentProperty(
                enabled=True, retain_stacks_on_account_removal=False
            ),
            # A canary for the tool itself: one account at a time, one region after another in the order
            # listed, and the first failure stops the operation (no later region is attempted).
            # AWS: these preferences do not apply to auto-deployments (an account joining an OU), and
            # RegionOrder is not followed while auto-deployment is on (regions still go one at a time).
            # https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackSetOperationPreferences.html
            # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-cloudformation-stackset-operationpreferences.html
            operation_preferences=cloudformation.CfnStackSet.OperationPreferencesProperty(
                region_concurrency_type="SEQUENTIAL",
                region_order=list(organization.regions),
                failure_tolerance_count=0,
                max_concurrent_count=1,
            ),
            capabilities=["CAPABILITY_NAMED_IAM"],
            parameters=parameters,
            stack_instances_group=[
                cloudformation.CfnStackSet.StackInstancesProperty(
                    deployment_targets=cloudformation.CfnStackSet.DeploymentTargetsProperty(
                        organizational_unit_ids=list(units)
                    ),
                    regions=list(organization.regions),
                )
            ],
            template_body=body,
        )


def add_organization(
    app: App, organization: Organization, build_member: Callable[[App, DefaultStackSynthesizer], Stack]
) -> RecyclerOrganizationStack:
    """The assets stacks, then the StackSet (which waits for them: every region's zip must exist
    before a stack instance creates its function)."""
    context = app.node.get_all_context()
    template = member_template(context, organization, build_member)
    stack = RecyclerOrganizationStack(
        app,
        "RecyclerOrganization",
        organization=organization,
        template=template,
        rings=read_rings(app.node),
        description="recycler: the member stack as a service-managed StackSet over the organization's OUs",
    )
    for region in organization.regions:
        assets = RecyclerAssetsStack(
            app,
            f"RecyclerAssets-{region}",
            organization=organization,
            region=region,
            description=f"recycler: the Lambda code every stack instance in {region} reads",
        )
        stack.add_stack_dependency(assets)
    return stack
