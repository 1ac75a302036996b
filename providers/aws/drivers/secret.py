"""infra.secret: a Secrets Manager secret whose value never passes through the engine.

The value comes from the worker's environment (`value_env`) or is generated here (see
providers/secret_values.py); outputs carry the ARN and where the value came from, never the
value itself.
"""

from __future__ import annotations

import hashlib
from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec
from interfaces.errors import NotFoundError, ProviderError
from providers.aws import tags as awstags
from providers.aws.base import AwsDriver
from providers.creation_journal import creation_token
from providers.secret_values import (
    SourcedValue,
    ValueSource,
    source_from_label,
)

SOURCE_TAG = "wfctl:value-source"
RECOVERY_TAG = "wfctl:recovery-days"
# Secrets Manager's own bounds for a deletion's recovery window (0 here: at once).
RECOVERY_DAYS = range(7, 31)


class SecretDriver(SourcedValue, AwsDriver):
    """Config: secret_name (default <stack>/<name>), description, value_env (a worker
    environment variable holding the value) or generate_length (16..4096, default 32: a
    generated value), kms_key_id, recovery_days (0: deleted at once, the default; 7..30:
    recoverable that long), tags. A literal `value` is refused. The value is written at
    create and again when its source changes; changing the name makes a new secret."""

    resource_type = "infra.secret"
    FORCE_NEW = frozenset({"secret_name"})
    UPDATABLE = frozenset(
        {"description", "value_env", "generate_length", "kms_key_id", "recovery_days", "tags"}
    )
    OUTPUTS = frozenset({
        "arn", "description", "generate_length", "kms_key_id", "recovery_days", "secret_name",
        "tags", "value_env", "version_id"
    })

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        name = self.secret_name(spec)
        source = self._source(spec)
        recovery = self._recovery_days(spec)
        with self.errors(spec.name):
            found = self._describe_or_none(name)
            if found is None:
                params: dict[str, Any] = {
                    "Name": name,
                    "Description": str(spec.config.get("description") or ""),
                    "SecretString": source.value(self.describe(spec.name)),
                    # The same token for every attempt of this create: a retry whose first
                    # call did land gets that secret back instead of a second version.
                    "ClientRequestToken": self._token(spec.name),
                    "Tags": awstags.tag_list(self._tags_for(spec, source, recovery)),
                }
                if spec.config.get("kms_key_id"):
                    params["KmsKeyId"] = str(spec.config["kms_key_id"])
                arn = self.made(str(self.sm.create_secret(**params)["ARN"]))
            else:
                self._check_ours(found, spec.name)
                arn = self.made(str(found["ARN"]))
                if found.get("DeletedDate"):
                    # Ours, scheduled for deletion by an earlier destroy: take it back.
                    self.sm.restore_secret(SecretId=arn)
                # An adopted secret whose source is unchanged keeps a generated value: it
                # must not change under its users because a create was retried.
                label = awstags.tags_from_list(found.get("Tags")).get(SOURCE_TAG)
                fresh = label != source.label() or bool(source.env)
                self._converge(arn, spec, source, recovery, self._value(spec, source, fresh))
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=arn))

    def locate(self, spec: ResourceSpec) -> str:
        with self.errors(spec.name):
            found = self._describe_or_none(self.secret_name(spec))
        if found is None or not self._ours(found, spec.name):
            return ""
        return str(found["ARN"])

    def read(self, ref: ResourceRef) -> ResourceOutput:
        with self.errors(ref.name):
            found = self.sm.describe_secret(SecretId=ref.provider_id)
        if found.get("DeletedDate"):
            raise NotFoundError(
                f"{self.describe(ref.name)}: secret {found['Name']} is scheduled for deletion",
                code="ResourceNotFoundException",
            )
        tags = awstags.tags_from_list(found.get("Tags"))
        source = source_from_label(tags.get(SOURCE_TAG))
        current = [
            version
            for version, stages in (found.get("VersionIdsToStages") or {}).items()
            if "AWSCURRENT" in stages
        ]
        outputs = {
            "arn": found["ARN"],
            "secret_name": found["Name"],
            "description": found.get("Description") or "",
            "kms_key_id": found.get("KmsKeyId") or "",
            "recovery_days": int(tags.get(RECOVERY_TAG) or 0),
            "version_id": current[0] if current else "",
            **source.fields(),
            "tags": awstags.user_tags(tags),
        }
        return self.output(ref.name, str(found["ARN"]), outputs, sensitive=["arn"])

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        changes = self.updatable_changes(ref, spec)
        source = self._source(spec)
        value = self._value(spec, source, bool({"value_env", "generate_length"} & set(changes)))
        with self.errors(spec.name):
            self._converge(ref.provider_id, spec, source, self._recovery_days(spec), value)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        with self.ignoring_missing(ref.name):
            found = self.sm.describe_secret(SecretId=ref.provider_id)
            if found.get("DeletedDate"):
                return
            days = int(awstags.tags_from_list(found.get("Tags")).get(RECOVERY_TAG) or 0)
            if days:
                self.sm.delete_secret(SecretId=ref.provider_id, RecoveryWindowInDays=days)
            else:
                self.sm.delete_secret(SecretId=ref.provider_id, ForceDeleteWithoutRecovery=True)

    def natural_id(self, provider_id: str) -> str:
        return provider_id  # Secrets Manager takes the name or the ARN as it is

    # -- parts ----------------------------------------------------------------------------

    @property
    def sm(self) -> Any:
        return self.client("secretsmanager")

    def secret_name(self, spec: ResourceSpec) -> str:
        return str(spec.config.get("secret_name") or f"{self.stack}/{spec.name}")

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        fields.update(self._source(spec).fields())
        # Written at create even when left out: a description edited by hand is drift.
        fields["description"] = str(spec.config.get("description") or "")
        fields["recovery_days"] = self._recovery_days(spec)
        if "secret_name" in fields:
            fields["secret_name"] = self.secret_name(spec)
        return fields

    def _recovery_days(self, spec: ResourceSpec) -> int:
        days = spec.config.get("recovery_days", 0)
        if isinstance(days, bool) or not isinstance(days, int) or (
            days != 0 and days not in RECOVERY_DAYS
        ):
            raise self.invalid(spec.name, f"recovery_days must be 0 or 7..30, not {days!r}")
        return days

    def _tags_for(self, spec: ResourceSpec, source: ValueSource, recovery: int) -> dict[str, str]:
        tags = self.tags_for(spec)
        tags[SOURCE_TAG] = source.label()
        if recovery:
            tags[RECOVERY_TAG] = str(recovery)
        return tags

    def _value(self, spec: ResourceSpec, source: ValueSource, wanted: bool) -> str | None:
        return source.value(self.describe(spec.name)) if wanted else None

    def _token(self, name: str) -> str:
        seed = "\n".join([self.stack, name, creation_token()])
        return hashlib.sha256(seed.encode()).hexdigest()[:64]

    def _describe_or_none(self, secret_id: str) -> dict[str, Any] | None:
        try:
            with self.errors(secret_id):
                return dict(self.sm.describe_secret(SecretId=secret_id))
        except NotFoundError:
            return None

    def _ours(self, found: dict[str, Any], name: str) -> bool:
        return awstags.is_ours(awstags.tags_from_list(found.get("Tags")), self.stack, name)

    def _check_ours(self, found: dict[str, Any], name: str) -> None:
        if not self._ours(found, name):
            raise ProviderError(
                f"{self.describe(name)}: secret {found['Name']!r} exists and is not this "
                "stack's (import it instead)",
                code="ResourceExistsException",
            )

    def _converge(
        self,
        arn: str,
        spec: ResourceSpec,
        source: ValueSource,
        recovery: int,
        value: str | None,
    ) -> None:
        found = self.sm.describe_secret(SecretId=arn)
        params: dict[str, Any] = {"SecretId": arn}
        description = str(spec.config.get("description") or "")
        if (found.get("Description") or "") != description:
            params["Description"] = description
        kms = str(spec.config.get("kms_key_id") or "")
        if kms and found.get("KmsKeyId") != kms:
            params["KmsKeyId"] = kms
        current_tags = awstags.tags_from_list(found.get("Tags"))
        if value is not None:
            params["SecretString"] = value
        if len(params) > 1:
            self.sm.update_secret(**params)
        to_set, to_remove = awstags.tag_changes(
            current_tags, self._tags_for(spec, source, recovery)
        )
        if to_set:
            self.sm.tag_resource(SecretId=arn, Tags=awstags.tag_list(to_set))
        if to_remove:
            self.sm.untag_resource(SecretId=arn, TagKeys=to_remove)
