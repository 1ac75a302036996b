"""infra.secret: a Secret Manager secret whose value never passes through the engine.

The value comes from the worker's environment (`value_env`) or is generated here (see
providers/secret_values.py) and is added as a secret version; outputs carry the secret's
name and where the value came from (an annotation), never the value.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from interfaces import ResourceOutput, ResourceRef, ResourceSpec
from interfaces.errors import NotFoundError, ProviderError
from providers.gcp import labels as gcplabels
from providers.gcp.base import CONFLICT_CODES, GcpDriver
from providers.secret_values import (
    SourcedValue,
    ValueSource,
    source_from_label,
)

SOURCE_ANNOTATION = "wfctl-value-source"
_SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


class SecretDriver(SourcedValue, GcpDriver):
    """Config: secret_id (default <stack>-<name>), locations (regions holding replicas; none:
    Google's automatic replication; fixed once made), value_env (a worker environment
    variable holding the value) or generate_length (16..4096, default 32: a generated
    value), labels. A literal `value` is refused. The value is added as a new version at
    create and again when its source changes; earlier versions stay, as Secret Manager
    keeps them."""

    resource_type = "infra.secret"
    FORCE_NEW = frozenset({"secret_id", "locations"})
    UPDATABLE = frozenset({"value_env", "generate_length", "labels"})
    OUTPUTS = frozenset({
        "generate_length", "labels", "latest_version", "locations", "name", "secret_id",
        "value_env",
    })  # fmt: skip

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        secret_id = self.secret_id(spec)
        source = self._source(spec)
        found = self.find(spec.name, lambda: self._get(secret_id))
        if found is None:
            body: dict[str, Any] = {
                "replication": self._replication(spec),
                "labels": self.labels_for(spec),
                "annotations": {SOURCE_ANNOTATION: source.label()},
            }
            try:
                with self.errors(spec.name):
                    found = self.sm.projects().secrets().create(
                        parent=f"projects/{self.project}", secretId=secret_id, body=body
                    ).execute(num_retries=0)
            except ProviderError as error:
                if error.code not in CONFLICT_CODES:
                    raise
                with self.errors(spec.name):
                    found = self._get(secret_id)
        if not gcplabels.is_ours(self.stack, spec.name, labels_found=found.get("labels")):
            raise ProviderError(
                f"{self.describe(spec.name)}: secret {secret_id} already exists and is not "
                "this stack's (import it to manage it)",
                code="AlreadyExists",
            )
        self.made(secret_id)
        with self.errors(spec.name):
            # A retry adopting the first attempt's secret keeps a generated value it holds.
            recorded = (found.get("annotations") or {}).get(SOURCE_ANNOTATION)
            if self._latest(secret_id) is None or recorded != source.label() or source.env:
                self._add_version(secret_id, source.value(self.describe(spec.name)))
            self._patch(secret_id, spec, source, found)
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=secret_id))

    def locate(self, spec: ResourceSpec) -> str:
        found = self.find(spec.name, lambda: self._get(self.secret_id(spec)))
        if found and gcplabels.is_ours(self.stack, spec.name, labels_found=found.get("labels")):
            return self.secret_id(spec)
        return ""

    def read(self, ref: ResourceRef) -> ResourceOutput:
        with self.errors(ref.name):
            found = self._get(ref.provider_id)
            latest = self._latest(ref.provider_id)
        source = source_from_label((found.get("annotations") or {}).get(SOURCE_ANNOTATION))
        replicas = found.get("replication", {}).get("userManaged", {}).get("replicas") or []
        outputs = {
            "secret_id": ref.provider_id,
            "name": found["name"],
            "locations": sorted(r["location"] for r in replicas),
            "latest_version": (latest or {}).get("name", ""),
            **source.fields(),
            "labels": gcplabels.user_labels(found.get("labels")),
        }
        return self.output(ref.name, ref.provider_id, outputs)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        source = self._source(spec)
        changes = self.updatable_changes(ref, spec)
        with self.errors(spec.name):
            if {"value_env", "generate_length"} & set(changes):
                self._add_version(ref.provider_id, source.value(self.describe(spec.name)))
            self._patch(ref.provider_id, spec, source, self._get(ref.provider_id))
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        with self.ignoring_missing(ref.name):
            self.sm.projects().secrets().delete(name=self._path(ref.provider_id)).execute(
                num_retries=0
            )

    # -- parts ----------------------------------------------------------------------------

    @property
    def sm(self) -> Any:
        return self.context.clients.secretmanager()

    def secret_id(self, spec: ResourceSpec) -> str:
        given = str(spec.config.get("secret_id") or self.gce_name(spec))
        if not _SECRET_ID.match(given):
            raise self.invalid(
                spec.name, f"secret_id {given!r}: letters, digits, - and _, 1..255 characters"
            )
        return given

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        fields.update(self._source(spec).fields())
        if "secret_id" in fields:
            fields["secret_id"] = self.secret_id(spec)
        if "locations" in fields:
            fields["locations"] = self._locations(spec)
        return fields

    def _locations(self, spec: ResourceSpec) -> list[str]:
        locations = spec.config.get("locations") or []
        if isinstance(locations, str):
            locations = [locations]
        return sorted({str(location) for location in locations})

    def _replication(self, spec: ResourceSpec) -> dict[str, Any]:
        locations = self._locations(spec)
        if not locations:
            return {"automatic": {}}
        return {"userManaged": {"replicas": [{"location": loc} for loc in locations]}}

    def _path(self, secret_id: str) -> str:
        return f"projects/{self.project}/secrets/{secret_id}"

    def _get(self, secret_id: str) -> dict[str, Any]:
        return dict(
            self.sm.projects().secrets().get(name=self._path(secret_id)).execute(num_retries=0)
        )

    def _latest(self, secret_id: str) -> dict[str, Any] | None:
        try:
            with self.errors(secret_id):
                return dict(
                    self.sm.projects().secrets().versions().get(
                        name=f"{self._path(secret_id)}/versions/latest"
                    ).execute(num_retries=0)
                )
        except NotFoundError:
            return None

    def _add_version(self, secret_id: str, value: str) -> None:
        data = base64.b64encode(value.encode()).decode()
        self.sm.projects().secrets().addVersion(
            parent=self._path(secret_id), body={"payload": {"data": data}}
        ).execute(num_retries=0)

    def _patch(
        self, secret_id: str, spec: ResourceSpec, source: ValueSource, found: dict[str, Any]
    ) -> None:
        labels = self.labels_for(spec)
        annotations = {**(found.get("annotations") or {}), SOURCE_ANNOTATION: source.label()}
        if found.get("labels") == labels and found.get("annotations") == annotations:
            return
        self.sm.projects().secrets().patch(
            name=self._path(secret_id),
            updateMask="labels,annotations",
            body={"labels": labels, "annotations": annotations},
        ).execute(num_retries=0)
