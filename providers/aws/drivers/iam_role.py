"""infra.iam_role: an IAM role, its trust policy and its managed policy attachments."""

from __future__ import annotations

import json
import re
from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec
from interfaces.errors import ProviderError
from providers.aws import tags as awstags
from providers.aws.base import AwsDriver

# Policy elements AWS accepts as a string or a list and may hand back in either shape.
_LISTY = ("Action", "NotAction", "Resource", "NotResource")


class IamRoleDriver(AwsDriver):
    """Config: role_name (default <stack>-<name>), service (who may assume the role:
    "ecs-tasks", "lambda.amazonaws.com" or a list) or assume_role_policy (a full trust
    document, mapping or JSON text), policies (managed policy ARNs to attach; the role ends
    up with exactly these), description, max_session_duration (seconds), path, tags."""

    resource_type = "infra.iam_role"
    FORCE_NEW = frozenset({"role_name", "path"})
    UPDATABLE = frozenset(
        {"assume_role_policy", "policies", "description", "max_session_duration", "tags"}
    )
    OUTPUTS = frozenset({
        "arn", "assume_role_policy", "description", "max_session_duration", "path", "policies",
        "role_id", "role_name", "tags"
    })

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        role_name = self.role_name(spec)
        trust = self._trust_policy(spec)
        with self.errors(spec.name):
            role = self._get(role_name)
            if role is None:
                params: dict[str, Any] = {
                    "RoleName": role_name,
                    "Path": self._path(spec),
                    "AssumeRolePolicyDocument": json.dumps(trust),
                    "Tags": awstags.tag_list(self.tags_for(spec)),
                }
                if spec.config.get("description"):
                    params["Description"] = str(spec.config["description"])
                if spec.config.get("max_session_duration"):
                    params["MaxSessionDuration"] = int(spec.config["max_session_duration"])
                role = self.iam.create_role(**params)["Role"]
            elif not awstags.is_ours(_tags(role), self.stack, spec.name):
                raise ProviderError(
                    f"{self.describe(spec.name)}: role {role_name!r} already exists and is not "
                    "this resource's (import it to manage it)",
                    code="EntityAlreadyExists",
                )
            self.made(role_name)
            self._converge(role, spec)
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=role_name))

    def read(self, ref: ResourceRef) -> ResourceOutput:
        with self.errors(ref.name):
            role = self.iam.get_role(RoleName=ref.provider_id)["Role"]
            policies = self._attached(ref.provider_id)
        outputs = {
            "role_name": role["RoleName"],
            "arn": role["Arn"],
            "role_id": role["RoleId"],
            "path": role.get("Path", "/"),
            "assume_role_policy": normalize_policy(_document(role["AssumeRolePolicyDocument"])),
            "policies": sorted(policies),
            "description": role.get("Description", ""),
            "max_session_duration": role.get("MaxSessionDuration", 3600),
            "tags": awstags.user_tags(_tags(role)),
        }
        return self.output(ref.name, role["RoleName"], outputs)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        with self.errors(spec.name):
            role = self.iam.get_role(RoleName=ref.provider_id)["Role"]
            self._converge(role, spec)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        role_name = ref.provider_id
        # IAM refuses to delete a role that still has attachments (DeleteConflict).
        with self.ignoring_missing(ref.name):
            for arn in self._attached(role_name):
                self.iam.detach_role_policy(RoleName=role_name, PolicyArn=arn)
            for page in self.iam.get_paginator("list_role_policies").paginate(RoleName=role_name):
                for policy_name in page["PolicyNames"]:
                    self.iam.delete_role_policy(RoleName=role_name, PolicyName=policy_name)
            profiles = self.iam.get_paginator("list_instance_profiles_for_role")
            for page in profiles.paginate(RoleName=role_name):
                for profile in page["InstanceProfiles"]:
                    self.iam.remove_role_from_instance_profile(
                        InstanceProfileName=profile["InstanceProfileName"], RoleName=role_name
                    )
            self.iam.delete_role(RoleName=role_name)

    # -- parts ----------------------------------------------------------------------------

    @property
    def iam(self) -> Any:
        return self.client("iam")

    def role_name(self, spec: ResourceSpec) -> str:
        wanted = str(spec.config.get("role_name") or f"{self.stack}-{spec.name}")
        name = re.sub(r"[^\w+=,.@-]+", "-", wanted)[:64]
        if not name:
            raise self.invalid(spec.name, f"role name {wanted!r} is empty")
        return name

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "role_name" in fields:
            fields["role_name"] = self.role_name(spec)
        if "path" in fields:
            fields["path"] = self._path(spec)
        if "service" in spec.config or "assume_role_policy" in spec.config:
            fields["assume_role_policy"] = self._trust_policy(spec)
        if "policies" in fields:
            fields["policies"] = self._policies(spec)
        return fields

    def _get(self, role_name: str) -> dict[str, Any] | None:
        try:
            return self.iam.get_role(RoleName=role_name)["Role"]
        except self.iam.exceptions.NoSuchEntityException:
            return None

    def _attached(self, role_name: str) -> list[str]:
        pages = self.iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name)
        return [p["PolicyArn"] for page in pages for p in page["AttachedPolicies"]]

    def _path(self, spec: ResourceSpec) -> str:
        path = str(spec.config.get("path") or "/")
        return path if path.startswith("/") and path.endswith("/") else f"/{path.strip('/')}/"

    def _policies(self, spec: ResourceSpec) -> list[str]:
        policies = spec.config.get("policies") or []
        if isinstance(policies, str) or not all(isinstance(p, str) for p in policies):
            raise self.invalid(spec.name, "policies must be a list of managed policy ARNs")
        return sorted(set(policies))

    def _trust_policy(self, spec: ResourceSpec) -> dict[str, Any]:
        config = spec.config
        if config.get("assume_role_policy"):
            document = config["assume_role_policy"]
            if isinstance(document, str):
                try:
                    document = json.loads(document)
                except json.JSONDecodeError as error:
                    problem = f"assume_role_policy is not JSON: {error}"
                    raise self.invalid(spec.name, problem) from None
            if not isinstance(document, dict):
                raise self.invalid(spec.name, "assume_role_policy must be a mapping or JSON text")
            return normalize_policy(document)
        services = config.get("service")
        if not services:
            raise self.invalid(
                spec.name, "config needs `service` (for example ecs-tasks) or `assume_role_policy`"
            )
        principals = [services] if isinstance(services, str) else list(services)
        return normalize_policy(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": [_service_principal(s) for s in principals]},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        )

    def _converge(self, role: dict[str, Any], spec: ResourceSpec) -> None:
        role_name, config = role["RoleName"], spec.config
        to_set, to_remove = awstags.tag_changes(_tags(role), self.tags_for(spec))
        if to_set:
            self.iam.tag_role(RoleName=role_name, Tags=awstags.tag_list(to_set))
        if to_remove:
            self.iam.untag_role(RoleName=role_name, TagKeys=to_remove)
        trust = self._trust_policy(spec)
        have_trust = normalize_policy(_document(role["AssumeRolePolicyDocument"]))
        if not self.same("assume_role_policy", trust, have_trust):
            self.iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(trust))
        settings: dict[str, Any] = {}
        if "description" in config and config["description"] != role.get("Description", ""):
            settings["Description"] = str(config["description"] or "")
        duration = config.get("max_session_duration")
        if duration and int(duration) != role.get("MaxSessionDuration", 3600):
            settings["MaxSessionDuration"] = int(duration)
        if settings:
            self.iam.update_role(RoleName=role_name, **settings)
        if "policies" in config:
            wanted, have = set(self._policies(spec)), set(self._attached(role_name))
            for arn in sorted(have - wanted):
                self.iam.detach_role_policy(RoleName=role_name, PolicyArn=arn)
            for arn in sorted(wanted - have):
                self.iam.attach_role_policy(RoleName=role_name, PolicyArn=arn)


def normalize_policy(document: dict[str, Any]) -> dict[str, Any]:
    """One shape for a policy document, so a string and a one-element list compare equal."""
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    normalized = []
    for statement in statements:
        statement = dict(statement)
        for key in _LISTY:
            if isinstance(statement.get(key), str):
                statement[key] = [statement[key]]
        for key in ("Principal", "NotPrincipal"):
            principal = statement.get(key)
            if isinstance(principal, dict):
                statement[key] = {
                    kind: [who] if isinstance(who, str) else list(who)
                    for kind, who in principal.items()
                }
        normalized.append(statement)
    return {**document, "Statement": normalized}


def _document(value: Any) -> dict[str, Any]:
    # botocore decodes IAM's URL-encoded policy documents; a raw string is still possible.
    return json.loads(value) if isinstance(value, str) else dict(value)


def _tags(role: dict[str, Any]) -> dict[str, str]:
    return awstags.tags_from_list(role.get("Tags"))


def _service_principal(service: str) -> str:
    return service if "." in service else f"{service}.amazonaws.com"
