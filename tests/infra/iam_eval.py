"""A small, honest IAM evaluator for one role of a synthesized CloudFormation template.

It answers one question: would the role's identity policies allow this request (action, resource ARN,
request context)? It follows the IAM policy evaluation logic for a single account: an explicit Deny wins,
else some Allow must match the action, the resource and every condition. Anything it cannot evaluate
faithfully (a managed policy or permissions boundary on the role, an intrinsic function it does not
resolve, a condition operator it does not implement, a policy variable) raises Unsupported, so a test
built on it can fail but never pass by accident.

References (IAM User Guide): policy evaluation logic (reference_policies_evaluation-logic.html), the
Resource element and its wildcards (reference_policies_elements_resource.html), condition operators
(reference_policies_elements_condition_operators.html) and multivalued keys
(reference_policies_condition-single-vs-multi-valued-context-keys.html).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PSEUDO = ("AWS::Partition", "AWS::Region", "AWS::AccountId", "AWS::URLSuffix")


class Unsupported(Exception):
    """The template or policy uses something this evaluator does not evaluate faithfully."""


@dataclass(frozen=True)
class Request:
    """One authorization: IAM authorizes each resource of an API call separately."""

    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # condition key -> values
    call: str = ""  # the API call (or the call it depends on) it came from, for messages


@dataclass(frozen=True)
class Statement:
    label: str  # the Sid, else the first resource: how a reader finds it in the template
    effect: str
    actions: tuple[str, ...]
    not_actions: bool  # True: `actions` came from NotAction
    resources: tuple[str, ...]
    not_resources: bool
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]]

    def why_not(self, request: Request) -> str | None:
        """None when the statement applies to the request, else the first reason it does not."""
        if any(action_matches(p, request.action) for p in self.actions) == self.not_actions:
            return "action not covered"
        if any(resource_matches(p, request.resource) for p in self.resources) == self.not_resources:
            return f"resource {request.resource} not in {list(self.resources)}"
        for operator, keys in self.conditions.items():
            for key, wanted in keys.items():
                if not condition_holds(operator, key, wanted, request.context):
                    found = request.context.get(key.lower())
                    return f"condition {operator} {key}={list(found) if found else 'absent'} wants {list(wanted)}"
        return None


@dataclass(frozen=True)
class Decision:
    request: Request
    allowed: bool
    deciding: Statement | None  # the Allow that allowed it, or the Deny that denied it
    near: tuple[str, ...] = ()  # for a denial: why the statements closest to allowing it did not

    def explain(self) -> str:
        r = self.request
        context = {k: list(v) for k, v in sorted(r.context.items())}
        verdict = "ALLOWED by " if self.allowed else "DENIED"
        if self.deciding is not None:
            verdict += ("" if self.allowed else " explicitly by ") + self.deciding.label
        nearest = "".join(f"\n    nearly: {n}" for n in self.near) or "\n    nearly: no statement names it"
        return f"{r.action} on {r.resource} ({r.call}) {verdict}\n    context: {context}{nearest}"


def _glob(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def action_matches(pattern: str, action: str) -> bool:
    """Actions match case-insensitively, with * and ? wildcards."""
    return _glob(pattern, action, ignore_case=True)


def resource_matches(pattern: str, resource: str) -> bool:
    """ARNs match case-sensitively, segment by segment (partition, service, region, account); the
    resource segment, which may itself hold colons, matches as a whole. Only "*" matches a request for
    "*" (an action without resource-level permissions)."""
    if pattern == "*":
        return True
    want, have = pattern.split(":", 5), resource.split(":", 5)
    if len(want) != 6 or len(have) != 6:
        return pattern == resource
    return all(_glob(w, h) for w, h in zip(want, have, strict=True))


_MATCHERS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda value, wanted: value == wanted,
    "StringEqualsIgnoreCase": lambda value, wanted: value.lower() == wanted.lower(),
    "StringLike": lambda value, wanted: _glob(wanted, value),
    "ArnEquals": lambda value, wanted: resource_matches(wanted, value),
    "ArnLike": lambda value, wanted: resource_matches(wanted, value),
    "Bool": lambda value, wanted: value.lower() == wanted.lower(),
}


def condition_holds(
    operator: str, key: str, wanted: Sequence[str], context: Mapping[str, Sequence[str]]
) -> bool:
    """One condition key under one operator: the policy's values are ORed, the context's values are
    tested by the set qualifier (ForAnyValue/ForAllValues; a single-valued key behaves as ForAnyValue).
    A key absent from the context fails a positive operator, unless ...IfExists (or ForAllValues)."""
    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists") and name != "IfExists"
    name = name.removesuffix("IfExists") if if_exists else name
    if any("${" in w for w in wanted):
        raise Unsupported(f"policy variable in {operator} {key}: {list(wanted)}")
    if qualifier not in ("", "ForAnyValue", "ForAllValues") or (name not in _MATCHERS and name != "Null"):
        raise Unsupported(f"condition operator {operator!r}: teach the evaluator before relying on it")
    values = context.get(key.lower())
    if name == "Null":
        return all((values is None) == (w.lower() == "true") for w in wanted)
    if values is None:
        return if_exists or qualifier == "ForAllValues"
    matches = [any(_MATCHERS[name](v, w) for w in wanted) for v in values]
    return all(matches) if qualifier == "ForAllValues" else any(matches)


def evaluate(statements: Sequence[Statement], request: Request) -> Decision:
    for statement in statements:
        if statement.effect == "Deny" and statement.why_not(request) is None:
            return Decision(request, False, statement)
    near = []
    for statement in statements:
        if statement.effect != "Allow":
            continue
        reason = statement.why_not(request)
        if reason is None:
            return Decision(request, True, statement)
        if reason != "action not covered":
            near.append(f"{statement.label}: {reason}")
    return Decision(request, False, None, tuple(near))


def contributions(statements: Sequence[Statement], requests: Iterable[Request]) -> set[tuple[str, str]]:
    """(statement label, action entry) pairs that allowed at least one of the requests."""
    used = set()
    for request in requests:
        for statement in statements:
            if (
                statement.effect == "Allow"
                and not statement.not_actions
                and statement.why_not(request) is None
            ):
                used |= {(statement.label, p) for p in statement.actions if action_matches(p, request.action)}
    return used


def grants(statements: Sequence[Statement]) -> set[tuple[str, str]]:
    return {(s.label, a) for s in statements if s.effect == "Allow" and not s.not_actions for a in s.actions}


# ---- the template -------------------------------------------------------------------------------


def resolve(value: Any, pseudo: Mapping[str, str], refs: Mapping[str, str], attrs: Mapping[str, str]) -> Any:
    """CloudFormation intrinsics to values: Ref (pseudo parameters and resources), Fn::GetAtt
    ("Logical.Attr" keys) and Fn::Join; any other function raises."""
    if isinstance(value, list):
        return [resolve(v, pseudo, refs, attrs) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        [(name, argument)] = value.items()
        if name == "Ref":
            found = pseudo.get(argument, refs.get(argument))
            if found is None:
                raise Unsupported(f"Ref {argument}: no physical value given")
            return found
        if name == "Fn::GetAtt":
            key = ".".join(argument) if isinstance(argument, list) else str(argument)
            if key not in attrs:
                raise Unsupported(f"Fn::GetAtt {key}: no physical value given")
            return attrs[key]
        if name == "Fn::Join":
            separator, items = argument
            return str(separator).join(str(resolve(i, pseudo, refs, attrs)) for i in items)
        if name.startswith("Fn::"):
            raise Unsupported(f"intrinsic {name} is not resolved by this evaluator")
    return {k: resolve(v, pseudo, refs, attrs) for k, v in value.items()}


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in (value if isinstance(value, list) else [value]))


def role_statements(
    template: Mapping[str, Any],
    role_id: str,
    pseudo: Mapping[str, str],
    refs: Mapping[str, str],
    attrs: Mapping[str, str],
) -> list[Statement]:
    """Every statement of every identity policy attached to the role: its inline Policies and each
    AWS::IAM::Policy / ManagedPolicy resource that names it in Roles."""
    resources = template["Resources"]
    role = resources[role_id]["Properties"]
    if role.get("ManagedPolicyArns") or role.get("PermissionsBoundary"):
        raise Unsupported(f"{role_id} has managed policies or a permissions boundary: not evaluated here")
    documents = [p["PolicyDocument"] for p in role.get("Policies", [])]
    for resource in resources.values():
        attached = {"Ref": role_id} in resource.get("Properties", {}).get("Roles", [])
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and attached:
            documents.append(resource["Properties"]["PolicyDocument"])
    statements = []
    for document in documents:
        for raw in resolve(document, pseudo, refs, attrs)["Statement"]:
            if "Principal" in raw or "NotPrincipal" in raw:
                raise Unsupported("a Principal in an identity policy")
            resource_list = _strings(raw.get("Resource", raw.get("NotResource")))
            statements.append(
                Statement(
                    label=str(raw.get("Sid") or resource_list[0]),
                    effect=str(raw["Effect"]),
                    actions=_strings(raw.get("Action", raw.get("NotAction"))),
                    not_actions="NotAction" in raw,
                    resources=resource_list,
                    not_resources="NotResource" in raw,
                    conditions={
                        op: {key: _strings(v) for key, v in keys.items()}
                        for op, keys in raw.get("Condition", {}).items()
                    },
                )
            )
    return statements
