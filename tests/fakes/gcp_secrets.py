"""Secret Manager v1 for the GCP fake: secrets, their versions and the service's own rules.

Bodies are checked against the discovery document (secretmanager v1) by the fake's front
door; this holds what the schema does not say and the real service enforces: a secret id of
1-255 letters, digits, `-` and `_`; `replication` required on create and fixed afterwards;
label keys and values in Google's label alphabet; a version payload that is base64 of at most
64 KiB; PATCH only with an updateMask. Versions are numbered from 1; `latest` is the newest
enabled one.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from collections.abc import Callable
from typing import Any

PATH = re.compile(
    r"^/v1/projects/(?P<project>[^/]+)/secrets(?:/(?P<secret>[^/:]+))?"
    r"(?::(?P<verb>addVersion))?"
    r"(?:/versions(?:/(?P<version>[^/:]+))?(?::(?P<version_verb>access))?)?$"
)
SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
ANNOTATION_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
MAX_PAYLOAD = 64 * 1024
MUTABLE = frozenset({"labels", "annotations", "expireTime", "ttl", "topics", "rotation",
                     "versionAliases", "etag", "versionDestroyTtl"})  # fmt: skip

Fail = Callable[[int, str, str], Exception]


class SecretManager:
    """State and routes; `fail(status, reason, message)` builds the fake's HTTP error."""

    def __init__(self, fail: Fail) -> None:
        self.fail = fail
        self.secrets: dict[str, dict[str, Any]] = {}  # full name -> Secret JSON
        self.versions: dict[str, list[dict[str, Any]]] = {}  # full name -> versions
        self.payloads: dict[str, bytes] = {}  # version name -> data

    def route(
        self, method: str, match: re.Match[str], query: dict[str, str], body: dict[str, Any]
    ) -> dict[str, Any]:
        parent = f"projects/{match['project']}"
        secret = match["secret"]
        if secret is None:
            if method == "POST":
                return self._create(parent, query.get("secretId", ""), body)
            if method == "GET":
                found = [copy.deepcopy(s) for k, s in self.secrets.items() if k.startswith(parent)]
                return {"secrets": found, "totalSize": len(found)}
        else:
            name = f"{parent}/secrets/{secret}"
            if match["verb"] == "addVersion" and method == "POST":
                return self._add_version(name, body)
            if match["version"] is not None and method == "GET":
                version = self._version(name, match["version"])
                if match["version_verb"] == "access":
                    data = base64.b64encode(self.payloads[version["name"]]).decode()
                    return {"name": version["name"], "payload": {"data": data}}
                return copy.deepcopy(version)
            if match["version"] is None and "/versions" not in match.group(0):
                if method == "GET":
                    return copy.deepcopy(self._secret(name))
                if method == "PATCH":
                    return self._patch(name, query, body)
                if method == "DELETE":
                    self._secret(name)
                    del self.secrets[name]
                    for version in self.versions.pop(name, []):
                        self.payloads.pop(version["name"], None)
                    return {}
        raise self.fail(400, "badRequest", f"{method} {match.group(0)} is not supported")

    def _secret(self, name: str) -> dict[str, Any]:
        found = self.secrets.get(name)
        if found is None:
            raise self.fail(404, "notFound", f"Secret [{name}] not found.")
        return found

    def _create(self, parent: str, secret_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if not SECRET_ID.match(secret_id):
            raise self.fail(400, "invalid", f"Invalid secret_id {secret_id!r}: 1-255 letters, "
                            "digits, hyphens and underscores")  # fmt: skip
        replication = body.get("replication")
        if not replication or not (
            "automatic" in replication or replication.get("userManaged", {}).get("replicas")
        ):
            raise self.fail(400, "invalid", "Secret.replication is required (automatic or "
                            "userManaged with at least one replica)")  # fmt: skip
        self._check_metadata(body)
        name = f"{parent}/secrets/{secret_id}"
        if name in self.secrets:
            raise self.fail(409, "alreadyExists", f"Secret [{name}] already exists.")
        secret = {**copy.deepcopy(body), "name": name, "createTime": "2024-01-01T00:00:00Z",
                  "etag": '"1"'}  # fmt: skip
        self.secrets[name] = secret
        self.versions[name] = []
        return copy.deepcopy(secret)

    def _check_metadata(self, body: dict[str, Any]) -> None:
        for key, value in (body.get("labels") or {}).items():
            if not LABEL_KEY.match(key) or not LABEL_VALUE.match(value):
                raise self.fail(400, "invalid", f"Invalid label {key!r}: {value!r}")
        for key in body.get("annotations") or {}:
            if not ANNOTATION_KEY.match(key):
                raise self.fail(400, "invalid", f"Invalid annotation key {key!r}")

    def _patch(self, name: str, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        secret = self._secret(name)
        mask = [field for field in query.get("updateMask", "").split(",") if field]
        if not mask:
            raise self.fail(400, "invalid", "update_mask is required")
        fixed = sorted(set(mask) - MUTABLE)
        if fixed:
            raise self.fail(400, "invalid", f"cannot update {', '.join(fixed)} of a secret")
        self._check_metadata(body)
        for field in mask:
            if field in body:
                secret[field] = copy.deepcopy(body[field])
            else:
                secret.pop(field, None)
        secret["etag"] = f'"{int(secret["etag"].strip(chr(34))) + 1}"'
        return copy.deepcopy(secret)

    def _add_version(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self._secret(name)
        data = (body.get("payload") or {}).get("data")
        if not isinstance(data, str):
            raise self.fail(400, "invalid", "payload.data is required")
        try:
            raw = base64.b64decode(data, validate=True)
        except binascii.Error:
            raise self.fail(400, "invalid", "payload.data is not valid base64") from None
        if len(raw) > MAX_PAYLOAD:
            raise self.fail(400, "invalid", f"payload is {len(raw)} bytes; the limit is 65536")
        versions = self.versions[name]
        version = {"name": f"{name}/versions/{len(versions) + 1}", "state": "ENABLED",
                   "createTime": "2024-01-01T00:00:00Z"}  # fmt: skip
        versions.append(version)
        self.payloads[version["name"]] = raw
        return copy.deepcopy(version)

    def _version(self, name: str, which: str) -> dict[str, Any]:
        versions = self.versions.get(name)
        if versions is None:
            raise self.fail(404, "notFound", f"Secret [{name}] not found.")
        if which == "latest":
            enabled = [v for v in versions if v["state"] == "ENABLED"]
            if enabled:
                return enabled[-1]
        else:
            for version in versions:
                if version["name"].endswith(f"/versions/{which}"):
                    return version
        raise self.fail(404, "notFound", f"Secret Version [{name}/versions/{which}] not found.")
