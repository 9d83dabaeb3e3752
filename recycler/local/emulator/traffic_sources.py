"""Auto Scaling traffic sources and VPC Lattice target health, which moto 5.2 lacks: AttachTrafficSources
(and DescribeAutoScalingGroups listing TrafficSources), the group's instances registered with an
attached elbv2 target group, and VPC Lattice ListTargets answering each instance of a group with the
Lattice target group attached, HEALTHY unless staged to fail (target_health's unhealthy_in() and
replacements_unhealthy_in(), by the Lattice target group's name).

AWS: https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_AttachTrafficSources.html,
https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-vpc-lattice.html (Auto Scaling
registers the group's instances with the attached target group), and ListTargets' status values,
https://docs.aws.amazon.com/vpc-lattice/latest/APIReference/API_TargetSummary.html.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from recycler.local.emulator.state import current_state
from recycler.local.emulator.target_health import fails_check


def traffic_sources_like_aws(response_class: Any) -> None:
    from moto.autoscaling.models import AutoScalingBackend
    from moto.core.responses import EmptyResult

    def attach_traffic_sources(self: Any) -> Any:
        name = self._get_param("AutoScalingGroupName")
        group = self.autoscaling_backend.autoscaling_groups[name]
        attached = current_state().traffic_sources[name]
        for source in self._get_param("TrafficSources", []):
            entry = {"Identifier": source["Identifier"], "Type": source.get("Type", "elbv2")}
            if entry not in attached:
                attached.append(entry)
        group.traffic_sources = list(attached)  # what DescribeAutoScalingGroups lists as TrafficSources
        self.autoscaling_backend.update_attached_target_groups(name)
        return EmptyResult()

    response_class.attach_traffic_sources = attach_traffic_sources
    original_update = AutoScalingBackend.update_attached_target_groups

    def update_attached_target_groups(self: Any, group_name: str) -> None:
        """Auto Scaling registers the group's instances with each elbv2 traffic source too."""
        original_update(self, group_name)
        group = self.autoscaling_groups[group_name]
        arns = [
            s["Identifier"]
            for s in current_state().traffic_sources.get(group_name, [])
            if s["Type"] == "elbv2" and s["Identifier"] not in group.target_group_arns
        ]
        if not arns:
            return
        for target_group in self.elbv2_backend.describe_target_groups(
            target_group_arns=arns, load_balancer_arn=None, names=None
        ):
            targets = [{"Id": s.instance.id, "Port": target_group.port} for s in group.instance_states]
            self.elbv2_backend.register_targets(target_group.arn, targets)

    AutoScalingBackend.update_attached_target_groups = update_attached_target_groups  # type: ignore[method-assign]
    _lattice_targets()


def health_checked(config: dict[str, Any]) -> bool:
    """VPC Lattice User Guide, "Health checks for your VPC Lattice target groups": health checks are on by
    default for protocol version HTTP1, off by default for HTTP2, and gRPC is not supported; a target of a
    group without them reports UNAVAILABLE (API_TargetSummary: "Health checks are unavailable for the
    target group")."""
    enabled = (config.get("healthCheck") or {}).get("enabled")
    if enabled is not None:
        return bool(enabled)
    return str(config.get("protocolVersion", "HTTP1")).upper() == "HTTP1"


def _lattice_targets() -> None:
    from moto.autoscaling.models import autoscaling_backends
    from moto.vpclattice.responses import VPCLatticeResponse

    def list_targets(self: Any) -> str:
        # POST /targetgroups/{targetGroupIdentifier}/listtargets; the identifier is an id or an ARN.
        path = unquote(self.path.split("?")[0]).rstrip("/").removesuffix("/listtargets")
        identifier = path.split("/targetgroups/", 1)[1].split("/")[-1]
        target_group = self.backend.get_target_group(identifier)
        # A `targets` filter matches an (id, port) registration; a target given without a port means the
        # protocol's default port (API_Target: "For HTTP, the default is 80. For HTTPS, the default is 443").
        protocol = str(target_group.config.get("protocol", "HTTP")).upper()
        default_port = 443 if protocol == "HTTPS" else 80
        asked = {(t["id"], int(t.get("port", default_port))) for t in (self._get_param("targets") or [])}
        items = []
        groups = autoscaling_backends[self.current_account][self.region].autoscaling_groups
        for group in groups.values():
            attached = current_state().traffic_sources.get(group.name, [])
            if not any(s["Identifier"] in (target_group.arn, target_group.id) for s in attached):
                continue
            for state in group.instance_states:
                instance_id = state.instance.id
                port = int(target_group.config.get("port", 80))
                if asked and (instance_id, port) not in asked:
                    continue
                if not health_checked(target_group.config):
                    status, reason = "UNAVAILABLE", "HealthCheckDisabled"
                elif fails_check(target_group.name, instance_id, self.current_account):
                    status, reason = "UNHEALTHY", "HealthCheckFailed"
                elif state.lifecycle_state.startswith("Pending"):
                    status, reason = "INITIAL", "RegistrationInProgress"
                else:
                    status, reason = "HEALTHY", ""
                items.append({"id": instance_id, "port": port, "status": status, "reasonCode": reason})
        return json.dumps({"items": items})

    VPCLatticeResponse.list_targets = list_targets  # type: ignore[attr-defined]
