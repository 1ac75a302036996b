"""A local Azure Resource Manager: a stateful fake speaking ARM's wire protocol over http.

What the azure provider needs of ARM, no more: PUT/GET/HEAD/PATCH/DELETE on any
`/subscriptions/.../resourceGroups/.../providers/...` id (children included), resource groups
(cascading delete), a resource group's resource list, child collections (`.../recordsets`,
`.../databases`), and long-running operations that stay pending for a few polls:
`Azure-AsyncOperation` for PUTs (storage accounts answer 202 + `Location` as the real one
does) and `Location` for DELETEs. Errors (409/429 with Retry-After/quota...) can be injected;
every request is recorded so tests can assert wire shapes. Bearer tokens are required.

As strict as ARM: every PUT/PATCH body is checked against the azure-mgmt-* model of its
request (`azure_schemas`: unknown or missing required members answer 400; a type with no
bound model is refused too), and the services' own rules are enforced (`azure_rules`: SQL
service objectives, container group updates and private image pulls, Redis scaling). As the
real services do, a SQL server PUT on a live server ignores `administrators` (its
administrators/ActiveDirectory and azureADOnlyAuthentications/Default children change it), a
container group never returns registry passwords, and a registry with its admin user on
answers listCredentials.

Test-only wiring: importing this module registers the static credential factory
"azure-fake" with the provider (see `provider_config`).
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.core.credentials import AccessToken

from providers.azure.credentials import register_credential_factory
from tests.fakes import azure_rules, azure_schemas
from tests.fakes.azure_keyvault import KeyVaults

SUBSCRIPTION = "00000000-0000-0000-0000-00000000abcd"
TENANT = "11111111-2222-3333-4444-555555555555"
FAKE_CREDENTIAL = "azure-fake"
FAKE_TOKEN = "fake-arm-token"
# Top-level members ARM keeps from a PUT body; anything else is dropped, as ARM drops it.
KEPT_MEMBERS = ("location", "tags", "sku", "kind", "identity", "properties", "zones")


class StaticTokenCredential:
    """A TokenCredential handing out one fixed token (tests only)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(FAKE_TOKEN, int(time.time()) + 3600)

    def close(self) -> None:
        return None


register_credential_factory(FAKE_CREDENTIAL, StaticTokenCredential)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float


@dataclass
class Injection:
    status: int
    code: str
    message: str
    method: str | None
    contains: str
    times: int
    retry_after: float | None
    hits: list[float] = field(default_factory=list)

    def matches(self, method: str, path: str) -> bool:
        return (
            len(self.hits) < self.times
            and (self.method is None or self.method == method)
            and self.contains.lower() in path.lower()
        )


@dataclass
class Operation:
    kind: str  # "put" or "delete"
    key: str  # the lowercase id it acts on
    remaining: int
    failure: dict[str, str] | None = None


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class ArmFake:
    """The fake's state and behaviour; `start()` serves it on 127.0.0.1 on a free port."""

    def __init__(self, polls: int = 2) -> None:
        self.polls = polls  # polls an operation stays pending before it finishes
        self.resources: dict[str, dict[str, Any]] = {}  # lowercase id -> resource (groups too)
        self.deleting_groups: set[str] = set()
        self.operations: dict[str, Operation] = {}
        self.recorded: list[Recorded] = []
        self.injections: list[Injection] = []
        self.operation_failure: dict[str, str] | None = None
        self.registry_passwords: dict[str, str] = {}  # lowercase registry id -> admin password
        self.key_vaults = KeyVaults()
        self._lock = threading.RLock()
        self._counter = itertools.count(10)
        self._server: ThreadingHTTPServer | None = None
        self.url = ""
        self.list_page_size = 100  # ARM pages lists by its own choice; tests may shrink it

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> ArmFake:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- test helpers ------------------------------------------------------------------

    def fail(
        self,
        status: int,
        code: str,
        *,
        method: str | None = None,
        contains: str = "",
        times: int = 1,
        retry_after: float | None = None,
        message: str = "injected by the test",
    ) -> Injection:
        """The next `times` requests matching method and path substring get this error."""
        injection = Injection(status, code, message, method, contains, times, retry_after)
        with self._lock:
            self.injections.append(injection)
        return injection

    def requests(self, method: str | None = None, contains: str = "") -> list[Recorded]:
        with self._lock:
            return [
                r for r in self.recorded
                if (method is None or r.method == method) and contains.lower() in r.path.lower()
            ]  # fmt: skip

    def get(self, resource_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self.resources.get(resource_id.lower())

    def of_type(self, arm_type: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.resources.values() if r["type"].lower() == arm_type.lower()]

    def change(self, resource_id: str, edit: Callable[[dict[str, Any]], None]) -> None:
        """Change a live resource behind the engine's back."""
        with self._lock:
            edit(self.resources[resource_id.lower()])

    def remove(self, resource_id: str) -> None:
        """Delete a resource (and its children) behind the engine's back."""
        with self._lock:
            self._drop(resource_id.lower())

    # -- request handling --------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], raw: bytes) -> Reply:
        parts = urlsplit(raw_path)
        path = parts.path
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return _error(400, "InvalidRequestContent", "the request body is not JSON")
        with self._lock:
            self.recorded.append(Recorded(method, path, query, headers, body, time.monotonic()))
            if not headers.get("authorization", "").startswith("Bearer "):
                return _error(401, "AuthenticationFailed", "no bearer token")
            for injection in self.injections:
                if injection.matches(method, path):
                    injection.hits.append(time.monotonic())
                    reply = _error(injection.status, injection.code, injection.message)
                    if injection.retry_after is not None:
                        reply.headers["Retry-After"] = f"{injection.retry_after:g}"
                    return reply
            if "/asyncoperations/" in path.lower():
                return self._async_status(path.rsplit("/", 1)[-1])
            if "/operationresults/" in path.lower():
                return self._location_status(path.rsplit("/", 1)[-1])
            if "api-version" not in query:
                return _error(400, "MissingApiVersionParameter", "api-version is required")
            if method == "POST" and "/deletedvaults/" in path.lower():
                refused = self.key_vaults.purge(path)
                return _error(*refused) if refused else Reply(202)
            return self._route(method, path.rstrip("/"), body, query)

    def _route(self, method: str, path: str, body: Any, query: dict[str, str]) -> Reply:
        segments = path.strip("/").split("/")
        if len(segments) < 4 or segments[0].lower() != "subscriptions" or (
            segments[2].lower() != "resourcegroups"
        ):
            return _error(404, "NotFound", f"no route for {path}")
        group_key = "/".join(segments[:4]).lower()
        group_key = f"/{group_key}"
        if len(segments) == 4:
            return self._group(method, path, group_key, body)
        if group_key not in self.resources:
            return _error(404, "ResourceGroupNotFound", f"Resource group '{segments[3]}' "
                          "could not be found.")  # fmt: skip
        if len(segments) == 5 and segments[4].lower() == "resources" and method == "GET":
            return Reply(200, {"value": self._top_level(group_key)})
        if len(segments) < 7 or segments[4].lower() != "providers":
            return _error(404, "NotFound", f"no route for {path}")
        if len(segments[5:]) % 2 == 0:  # provider namespace, then type/name pairs...
            if method == "POST":
                return self._action(path)
            return self._collection(method, path, query)
        if method == "PUT":
            return self._put(path, group_key, body)
        if method == "PATCH":
            return self._patch(path, body)
        if method == "DELETE":
            return self._delete(path)
        found = self.resources.get(path.lower())
        if method == "HEAD":
            return Reply(204 if found else 404)
        if found is None:
            return _not_found(path)
        return Reply(200, found)

    def _group(self, method: str, path: str, key: str, body: Any) -> Reply:
        found = self.resources.get(key)
        name = path.rsplit("/", 1)[-1]
        if method == "HEAD":
            return Reply(204 if found else 404)
        if method == "GET":
            return Reply(200, found) if found else _error(
                404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found."
            )  # fmt: skip
        if method == "PUT":
            if key in self.deleting_groups:
                return _error(409, "ResourceGroupBeingDeleted", f"'{name}' is being deleted")
            group = {
                "id": path, "name": name, "type": "Microsoft.Resources/resourceGroups",
                "location": (body or {}).get("location", ""), "tags": (body or {}).get("tags", {}),
                "properties": {"provisioningState": "Succeeded"},
            }  # fmt: skip
            self.resources[key] = group
            return Reply(200 if found else 201, group)
        if method == "DELETE":
            if found is None:
                return Reply(204)
            self.deleting_groups.add(key)
            found["properties"]["provisioningState"] = "Deleting"
            return self._operation("delete", key, style="location")
        return _error(405, "MethodNotAllowed", method)

    def _put(self, path: str, group_key: str, body: Any) -> Reply:
        if group_key in self.deleting_groups:
            return _error(409, "ResourceGroupBeingDeleted", "the resource group is being deleted")
        if not isinstance(body, dict):
            return _error(400, "InvalidRequestContent", "a PUT needs a JSON object")
        key = path.lower()
        parent = key.rsplit("/", 2)[0]
        segments = path.strip("/").split("/")
        top_level = len(segments) == 8
        if not top_level and parent not in self.resources:
            return _error(404, "ParentResourceNotFound", f"parent of {path} not found")
        if top_level and "location" not in body:
            return _error(400, "LocationRequired", "the location property is required")
        existing = self.resources.get(key)
        arm_type = "/".join([segments[5], *segments[6::2]])
        refusal = (
            _schema_refusal("PUT", arm_type, body)
            or _rule_refusal(arm_type.lower(), segments[-1], body, existing)
            or self.key_vaults.refusal(
                arm_type.lower(), segments[-1], body,
                self.of_type("Microsoft.KeyVault/vaults"), path,
            )
        )  # fmt: skip
        if refusal is not None:
            return _error(*refusal)
        resource: dict[str, Any] = {"id": path, "name": segments[-1], "type": arm_type}
        # A copy: the recorded request keeps exactly what the client sent.
        resource.update({k: copy.deepcopy(body[k]) for k in KEPT_MEMBERS if k in body})
        self._service_effects(arm_type.lower(), resource, existing, parent)
        props = resource.setdefault("properties", {})
        _assign_sub_ids(path, props)
        self._computed(resource, existing)
        pending = self.polls > 0
        props["provisioningState"] = (
            ("Updating" if existing else "Accepted") if pending else "Succeeded"
        )
        self.resources[key] = resource
        if arm_type.lower() == "microsoft.network/dnszones" and existing is None:
            self._system_records(path)
        if not pending:
            return Reply(200 if existing else 201, resource)
        if arm_type.lower() == "microsoft.storage/storageaccounts":
            return self._operation("put", key, style="location")
        reply = self._operation("put", key, style="async")
        return Reply(200 if existing else 201, resource, reply.headers)

    def _patch(self, path: str, body: Any) -> Reply:
        found = self.resources.get(path.lower())
        if found is None:
            return _not_found(path)
        refusal = _schema_refusal("PATCH", found["type"], body)
        if refusal is None and found["type"].lower() == "microsoft.cache/redis":
            wanted = ((body or {}).get("properties") or {}).get("sku")
            refusal = azure_rules.redis_scale(found, wanted)
        if refusal is not None:
            return _error(*refusal)
        for member, value in (body or {}).items():
            if member in ("tags",):
                found["tags"] = value
            elif member == "properties":
                found.setdefault("properties", {}).update(value)
            elif member in KEPT_MEMBERS:
                found[member] = value
        return Reply(200, found)

    def _action(self, path: str) -> Reply:
        resource_id, _, action = path.rpartition("/")
        found = self.resources.get(resource_id.lower())
        if found is None:
            return _not_found(resource_id)
        if action.lower() != "listcredentials" or not found["type"].lower().endswith(
            "/registries"
        ):
            return _error(404, "NotFound", f"no action {action} on {found['type']}")
        if not (found.get("properties") or {}).get("adminUserEnabled"):
            return _error(400, "AdminUserDisabled",
                          f"the admin user of registry {found['name']} is disabled")  # fmt: skip
        password = self.registry_passwords.setdefault(found["id"].lower(), uuid.uuid4().hex)
        return Reply(200, {"username": found["name"],
                           "passwords": [{"name": "password", "value": password}]})  # fmt: skip

    def _service_effects(
        self, kind: str, resource: dict[str, Any], existing: dict[str, Any] | None, parent: str
    ) -> None:
        """What the real services do with an accepted PUT beyond storing it."""
        props = resource.setdefault("properties", {})
        if kind == "microsoft.sql/servers" and existing is not None:
            # Azure ignores `administrators` on a server update.
            old = (existing.get("properties") or {}).get("administrators")
            props.pop("administrators", None)
            if old is not None:
                props["administrators"] = old
        elif kind == "microsoft.sql/servers/administrators":
            admin = self.resources[parent].setdefault("properties", {}).setdefault(
                "administrators", {}
            )
            admin.update({k: v for k, v in props.items()
                          if k in ("administratorType", "login", "sid", "tenantId")})  # fmt: skip
        elif kind == "microsoft.sql/servers/azureadonlyauthentications":
            admin = self.resources[parent].setdefault("properties", {}).setdefault(
                "administrators", {}
            )
            admin["azureADOnlyAuthentication"] = props.get("azureADOnlyAuthentication")
        elif kind == "microsoft.containerinstance/containergroups":
            for credential in props.get("imageRegistryCredentials") or []:
                credential.pop("password", None)  # never returned by ARM
        elif kind.startswith("microsoft.keyvault/"):
            self.key_vaults.effects(kind, resource, self.resources.get(parent))

    def _delete(self, path: str) -> Reply:
        key = path.lower()
        found = self.resources.get(key)
        if found is None:
            return Reply(204)
        if found["type"].lower() == "microsoft.keyvault/vaults":
            # Deleting a vault is immediate and leaves it soft-deleted, its name reserved.
            self.key_vaults.deleted_vault(found)
            self._drop(key)
            return Reply(200)
        if self.polls == 0:
            self._drop(key)
            return Reply(200)
        found.setdefault("properties", {})["provisioningState"] = "Deleting"
        return self._operation("delete", key, style="location")

    def _collection(self, method: str, path: str, query: dict[str, str]) -> Reply:
        if method != "GET":
            return _error(405, "MethodNotAllowed", method)
        parent, _, kind = path.lower().rpartition("/")
        if parent.split("/")[-2] == "providers":  # a group's resources of one type
            prefix = f"{parent}/{kind}/"
            listed = [
                r for k, r in self.resources.items()
                if k.startswith(prefix) and k.count("/") == prefix.count("/")
            ]  # fmt: skip
            return self._paged(path, listed, query)
        if parent not in self.resources:
            return _not_found(parent)
        children = [
            r for k, r in self.resources.items()
            if k.startswith(parent + "/") and k.count("/") == parent.count("/") + 2
            and (kind == "recordsets" or k.split("/")[-2] == kind)
        ]  # fmt: skip
        return Reply(200, {"value": children})

    def _paged(self, path: str, items: list[dict[str, Any]], query: dict[str, str]) -> Reply:
        """ARM's list pages: {"value": [...], "nextLink": <absolute URL>} until the last."""
        token = query.get("$skiptoken", "0")
        if not token.isdigit():
            return _error(400, "InvalidSkipToken", f"$skiptoken {token[:40]!r} is not valid")
        start = int(token)
        page: dict[str, Any] = {"value": items[start : start + self.list_page_size]}
        if start + self.list_page_size < len(items):
            page["nextLink"] = (
                f"{self.url}{path}?api-version={query['api-version']}"
                f"&$skiptoken={start + self.list_page_size}"
            )
        return Reply(200, page)

    # -- long-running operations ----------------------------------------------------------

    def _operation(self, kind: str, key: str, *, style: str) -> Reply:
        op_id = uuid.uuid4().hex
        failure = self.operation_failure if kind == "put" and style == "async" else None
        if failure is not None:
            self.operation_failure = None
        self.operations[op_id] = Operation(kind, key, max(1, self.polls), failure)
        if style == "async":
            url = self.url + _op_path(key, "asyncoperations", op_id)
            return Reply(201, None, {"Azure-AsyncOperation": url})
        return Reply(202, None, {"Location": self.url + _op_path(key, "operationresults", op_id)})

    def fail_next_operation(self, code: str, message: str = "injected failure") -> None:
        """The next long-running PUT ends Failed with this ARM error (a quota found late...)."""
        with self._lock:
            self.operation_failure = {"code": code, "message": message}

    def _advance(self, op_id: str) -> Operation | None:
        op = self.operations.get(op_id)
        if op is None:
            return None
        op.remaining -= 1
        if op.remaining == 0 and op.failure is None:
            self._finish(op)
        elif op.remaining == 0 and op.key in self.resources:
            self.resources[op.key].setdefault("properties", {})["provisioningState"] = "Failed"
        return op

    def _finish(self, op: Operation) -> None:
        if op.kind == "delete":
            self.deleting_groups.discard(op.key)
            self._drop(op.key)
        elif op.key in self.resources:
            self.resources[op.key].setdefault("properties", {})["provisioningState"] = "Succeeded"

    def _async_status(self, op_id: str) -> Reply:
        op = self._advance(op_id)
        if op is None:
            return _error(404, "NotFound", f"no operation {op_id}")
        if op.remaining > 0:
            return Reply(200, {"id": op_id, "name": op_id, "status": "InProgress"})
        if op.failure is not None:
            return Reply(200, {"id": op_id, "name": op_id, "status": "Failed", "error": op.failure})
        return Reply(200, {"id": op_id, "name": op_id, "status": "Succeeded"})

    def _location_status(self, op_id: str) -> Reply:
        op = self._advance(op_id)
        if op is None:
            return _error(404, "NotFound", f"no operation {op_id}")
        if op.remaining > 0:
            url = self.url + _op_path(op.key, "operationresults", op_id)
            return Reply(202, None, {"Location": url})
        if op.kind == "put":
            return Reply(200, self.resources.get(op.key))
        return Reply(204)

    # -- state -------------------------------------------------------------------------

    def _drop(self, key: str) -> None:
        for k in [k for k in self.resources if k == key or k.startswith(key + "/")]:
            del self.resources[k]

    def _top_level(self, group_key: str) -> list[dict[str, Any]]:
        return [
            r for k, r in self.resources.items()
            if k.startswith(group_key + "/providers/") and k.count("/") == group_key.count("/") + 4
        ]  # fmt: skip

    def _system_records(self, zone_id: str) -> None:
        for kind in ("NS", "SOA"):
            record_id = f"{zone_id}/{kind}/@"
            self.resources[record_id.lower()] = {
                "id": record_id, "name": "@", "type": f"Microsoft.Network/dnszones/{kind}",
                "properties": {"TTL": 3600},
            }  # fmt: skip

    def _computed(self, resource: dict[str, Any], existing: dict[str, Any] | None) -> None:
        """Read-only properties ARM fills in, kept across updates."""
        props = resource["properties"]
        old = (existing or {}).get("properties") or {}
        name, kind = resource["name"], resource["type"].lower()
        n = next(self._counter)
        if kind == "microsoft.managedidentity/userassignedidentities":
            props.update(
                principalId=old.get("principalId") or str(uuid.uuid4()),
                clientId=old.get("clientId") or str(uuid.uuid4()),
                tenantId=TENANT,
            )
        elif kind == "microsoft.sql/servers":
            props["fullyQualifiedDomainName"] = f"{name}.database.windows.net"
        elif kind == "microsoft.cache/redis":
            props.update(hostName=f"{name}.redis.cache.windows.net", port=6379, sslPort=6380)
        elif kind == "microsoft.containerregistry/registries":
            props["loginServer"] = f"{name}.azurecr.io"
        elif kind == "microsoft.storage/storageaccounts":
            props["primaryEndpoints"] = {"blob": f"https://{name}.blob.core.windows.net/"}
        elif kind == "microsoft.network/dnszones":
            props["nameServers"] = [f"ns{i}-01.azure-dns.com." for i in (1, 2)]
        elif kind == "microsoft.network/publicipaddresses":
            props["ipAddress"] = old.get("ipAddress") or f"20.0.0.{n % 250}"
        elif kind == "microsoft.containerinstance/containergroups" and props.get("ipAddress"):
            props["ipAddress"]["ip"] = (old.get("ipAddress") or {}).get("ip") or f"20.1.0.{n % 250}"
        elif kind == "microsoft.network/loadbalancers":
            for frontend in props.get("frontendIPConfigurations") or []:
                inner = frontend.setdefault("properties", {})
                if inner.get("subnet"):
                    inner["privateIPAddress"] = f"10.0.0.{n % 250}"


def _assign_sub_ids(resource_id: str, props: dict[str, Any]) -> None:
    """ARM gives every named item of a list in properties (subnets, rules...) its own id."""
    for member, value in props.items():
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and item.get("name") and not item.get("id"):
                    item["id"] = f"{resource_id}/{member}/{item['name']}"


def _op_path(key: str, kind: str, op_id: str) -> str:
    """Where an operation is polled: `kind` is asyncoperations or operationresults."""
    sub = key.split("/")[2]
    return f"/subscriptions/{sub}/providers/Fake.Arm/{kind}/{op_id}?api-version=2023-01-01"


def _schema_refusal(method: str, arm_type: str, body: Any) -> azure_rules.Refusal | None:
    found = azure_schemas.problems(method, arm_type, body)
    if found is None:
        return (400, "NoRegisteredModel",
                f"the fake binds no azure-mgmt model to {method} {arm_type}")  # fmt: skip
    if found:
        return (400, "InvalidRequestContent", f"{method} {arm_type}: {'; '.join(found[:5])}")
    return None


def _rule_refusal(
    kind: str, name: str, body: dict[str, Any], existing: dict[str, Any] | None
) -> azure_rules.Refusal | None:
    if kind == "microsoft.sql/servers/databases":
        return azure_rules.sql_database_sku(body)
    if kind == "microsoft.sql/servers/administrators" and name != "ActiveDirectory":
        return (400, "InvalidServerAdministratorTypePropertyName",
                "the administrator's name must be ActiveDirectory")  # fmt: skip
    if kind == "microsoft.sql/servers/azureadonlyauthentications" and name != "Default":
        return (400, "InvalidResourceRequestBody", "the name must be Default")
    if kind == "microsoft.containerinstance/containergroups":
        return (
            azure_rules.container_group_update(existing, {**body, "name": name})
            if existing is not None else None
        ) or azure_rules.container_group_pull({**body, "name": name})  # fmt: skip
    if kind == "microsoft.cache/redis" and existing is not None:
        return azure_rules.redis_scale(existing, (body.get("properties") or {}).get("sku"))
    return None


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}})


def _not_found(path: str) -> Reply:
    return _error(404, "ResourceNotFound", f"The Resource '{path}' was not found.")


def _handler(fake: ArmFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = fake.handle(self.command, self.path, headers, raw)
            data = b"" if reply.body is None else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if data:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-ms-request-id", str(uuid.uuid4()))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def provider_config(fake: ArmFake, **extra: Any) -> dict[str, Any]:
    """An azure provider block for the fake: test-only credential and loopback http."""
    return {
        "type": "azure",
        "subscription_id": SUBSCRIPTION,
        "location": "westeurope",
        "endpoint": fake.url,
        "credential": FAKE_CREDENTIAL,
        "allow_http_loopback": True,
        "poll_interval": 0.02,
        "wait_timeout": 20.0,
        "retry_total": 0,  # no per-call retries: tests see each injected error
        **extra,
    }


def serving(polls: int = 2) -> Iterator[ArmFake]:
    """For a fixture: `yield from serving()`."""
    fake = ArmFake(polls).start()
    try:
        yield fake
    finally:
        fake.stop()
