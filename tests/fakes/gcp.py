"""A small stateful fake of the Google APIs the GCP provider calls, over real HTTP.

Speaks the REST wire of google-cloud-compute (global, regional and zonal collections with
compute operations and requestId de-duplication), the Cloud SQL Admin API v1 (sql#operation),
Memorystore for Redis v1 (google.longrunning operations) and Secret Manager v1
(tests/fakes/gcp_secrets.py). Mutations take effect when their operation completes, after
`pending_polls` polls, so a client that does not wait sees nothing yet. Tests inject HTTP
errors and failing operations, change or delete resources behind the provider's back, and
read the recorded requests.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.discovery import SchemaError, check_body
from tests.fakes.gcp_list import ListError
from tests.fakes.gcp_list import page as list_page
from tests.fakes.gcp_secrets import PATH as SECRETS_PATH
from tests.fakes.gcp_secrets import SecretManager

SELF_LINK_ROOT = "https://www.googleapis.com/compute/v1/"
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
REDIS_ENUMS = {
    "tier": {1: "BASIC", 3: "STANDARD_HA"},
    "connectMode": {1: "DIRECT_PEERING", 2: "PRIVATE_SERVICE_ACCESS"},
}
COMPUTE_PATH = re.compile(r"^/compute/v1/projects/(?P<project>[^/]+)/(?P<rest>.+)$")
SQL_PATH = re.compile(r"^/v1/projects/(?P<project>[^/]+)/(?P<kind>instances|operations)(?:/(?P<name>[^/]+))?$")  # noqa: E501
REDIS_PATH = re.compile(
    r"^/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/"
    r"(?P<kind>instances|operations)(?:/(?P<name>[^/:]+))?$"
)


class FakeHttpError(Exception):
    def __init__(
        self, status: int, reason: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message
        self.headers = headers or {}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any]


@dataclass
class Injected:
    method: str
    pattern: re.Pattern[str]
    status: int
    reason: str
    message: str
    retry_after: str | None
    times: int


@dataclass
class FailingOperation:
    pattern: re.Pattern[str]
    code: str
    message: str
    http_status: int


@dataclass
class Operation:
    """One pending mutation: `effect` runs when it completes (unless it fails)."""

    body: dict[str, Any]
    effect: Callable[[], None]
    kind: str  # compute | sql | redis
    polls_left: int
    error: tuple[str, str, int] | None = None  # (code, message, http status)
    done: bool = False
    result: Callable[[], dict[str, Any]] | None = None
    held: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class GcpFake:
    """Start with `with GcpFake() as fake:`; point the provider's `endpoint` at `fake.url`."""

    def __init__(self, pending_polls: int = 2) -> None:
        self.pending_polls = pending_polls
        self.resources: dict[str, dict[str, Any]] = {}  # "global/networks/n" -> JSON
        self.sql: dict[str, dict[str, Any]] = {}
        # Names of deleted Cloud SQL instances: Cloud SQL may keep them reserved for a while.
        self.sql_reserved: set[str] = set()
        self.redis: dict[str, dict[str, Any]] = {}  # full name -> JSON
        self.secret_manager = SecretManager(FakeHttpError)
        self.operations: dict[str, Operation] = {}
        self.request_ids: dict[str, str] = {}  # requestId -> operation name
        self.group_members: dict[str, list[str]] = {}
        self.requests: list[Recorded] = []
        self.hold = False  # keep new operations RUNNING until release()
        self._injected: list[Injected] = []
        self._failing: list[FailingOperation] = []
        self._ids = itertools.count(1000)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> GcpFake:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                fake._handle(self)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- what tests use ---------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        status: int,
        reason: str = "",
        message: str = "injected",
        *,
        retry_after: float | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` requests matching answer with an HTTP error."""
        with self._lock:
            self._injected.append(
                Injected(
                    method.upper(), re.compile(path_pattern), status, reason, message,
                    None if retry_after is None else str(retry_after), times,
                )
            )  # fmt: skip

    def fail_operation(
        self, path_pattern: str, code: str, message: str = "injected", http_status: int = 403
    ) -> None:
        """The next mutation matching gets an operation that ends DONE with this error."""
        with self._lock:
            self._failing.append(
                FailingOperation(re.compile(path_pattern), code, message, http_status)
            )

    def release(self) -> None:
        with self._lock:
            self.hold = False
            for operation in self.operations.values():
                operation.held = False

    def find(self, pattern: str) -> list[dict[str, Any]]:
        """Compute resources whose key ("global/networks/n") matches `pattern`."""
        with self._lock:
            return [copy.deepcopy(v) for k, v in self.resources.items() if re.search(pattern, k)]

    def change(self, key: str, **fields: Any) -> None:
        """Change a compute resource behind the provider's back."""
        with self._lock:
            self.resources[key].update(fields)

    def calls(self, method: str, pattern: str) -> list[Recorded]:
        with self._lock:
            return [
                r for r in self.requests if r.method == method and re.search(pattern, r.path)
            ]

    # -- HTTP -------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw.strip() else {}
        method = handler.command
        with self._lock:
            self.requests.append(Recorded(method, split.path, query, body))
        status, payload, headers = 200, {}, {}
        try:
            self._inject(method, split.path)
            self._check_schema(method, split.path, query, body)
            with self._lock:
                payload = self._route(method, split.path, query, body)
        except FakeHttpError as error:
            status, headers = error.status, error.headers
            payload = {
                "error": {
                    "code": error.status,
                    "message": error.message,
                    "errors": [
                        {"reason": error.reason, "message": error.message, "domain": "global"}
                    ],
                    "status": STATUS_NAMES.get(error.status, "UNKNOWN"),
                }
            }
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _inject(self, method: str, path: str) -> None:
        with self._lock:
            for item in self._injected:
                if item.times > 0 and item.method == method and item.pattern.search(path):
                    item.times -= 1
                    headers = {"Retry-After": item.retry_after} if item.retry_after else {}
                    raise FakeHttpError(item.status, item.reason, item.message, headers)

    def _check_schema(
        self, method: str, path: str, query: dict[str, str], body: dict[str, Any]
    ) -> None:
        if method not in ("POST", "PATCH", "PUT"):
            return
        try:
            ints = "enum-encoding=int" in query.get("$alt", "")
            check_body(method, path, body, integer_enums=ints)
        except SchemaError as error:
            raise FakeHttpError(400, "invalid", str(error)) from error

    def _route(
        self, method: str, path: str, query: dict[str, str], body: dict[str, Any]
    ) -> dict[str, Any]:
        if match := COMPUTE_PATH.match(path):
            return self._compute(method, match["project"], match["rest"], query, body)
        if match := REDIS_PATH.match(path):
            return self._redis(method, match.groupdict(), query, body)
        if match := SQL_PATH.match(path):
            return self._sql(method, match.groupdict(), body)
        if match := SECRETS_PATH.match(path):
            return self.secret_manager.route(method, match, query, body)
        raise FakeHttpError(404, "notFound", f"no such path {path}")

    # -- operations -------------------------------------------------------------------------

    def _new_operation(
        self,
        kind: str,
        target: str,
        body: dict[str, Any],
        effect: Callable[[], None],
        result: Callable[[], dict[str, Any]] | None = None,
    ) -> Operation:
        failing = next((f for f in self._failing if f.pattern.search(target)), None)
        if failing is not None:
            self._failing.remove(failing)
        operation = Operation(
            body=body,
            effect=effect,
            kind=kind,
            polls_left=self.pending_polls,
            error=(failing.code, failing.message, failing.http_status) if failing else None,
            result=result,
            held=self.hold,
        )
        self.operations[body["name"]] = operation
        if operation.polls_left <= 0 and not operation.held:
            self._complete(operation)
        return operation

    def _poll(self, name: str, *, wait: bool = False) -> Operation:
        operation = self.operations.get(name)
        if operation is None:
            raise FakeHttpError(404, "notFound", f"operation {name} not found")
        if not operation.done and not operation.held:
            operation.polls_left = 0 if wait else operation.polls_left - 1
            if operation.polls_left <= 0:
                self._complete(operation)
        return operation

    def _complete(self, operation: Operation) -> None:
        operation.done = True
        if operation.error is None:
            operation.effect()
        code, message, http_status = operation.error or ("", "", 0)
        if operation.kind == "compute":
            operation.body.update(status="DONE", progress=100)
            if operation.error:
                operation.body["error"] = {"errors": [{"code": code, "message": message}]}
                operation.body["httpErrorStatusCode"] = http_status
        elif operation.kind == "sql":
            operation.body["status"] = "DONE"
            if operation.error:
                operation.body["error"] = {"errors": [{"code": code, "message": message}]}
        else:
            operation.body["done"] = True
            if operation.error:
                operation.body["error"] = {"code": int(code), "message": message}
            elif operation.result is not None:
                operation.body["response"] = operation.result()

    # -- compute ----------------------------------------------------------------------------

    def _compute(
        self, method: str, project: str, rest: str, query: dict[str, str], body: dict[str, Any]
    ) -> dict[str, Any]:
        parts = rest.split("/")
        if parts[0] not in ("global", "regions", "zones"):
            parts.insert(0, "global")  # targetHttpsProxies/x/setSslCertificates has no scope
        scope_len = 1 if parts[0] == "global" else 2
        scope, tail = "/".join(parts[:scope_len]), parts[scope_len:]
        if not tail:
            raise FakeHttpError(404, "notFound", f"no collection in {rest}")
        collection = tail[0]
        name = tail[1] if len(tail) > 1 else None
        verb = tail[2] if len(tail) > 2 else None
        if collection == "operations" and name:
            operation = self._poll(name, wait=verb == "wait")
            return copy.deepcopy(operation.body)
        base = f"{scope}/{collection}"
        key = f"{base}/{name}" if name else base
        if method == "GET" and name is None:
            items = [v for k, v in self.resources.items() if _child(k, base)]
            try:
                listed = list_page(items, query)
            except ListError as error:
                raise FakeHttpError(400, "invalid", str(error)) from None
            return {"kind": f"compute#{collection}List", **copy.deepcopy(listed)}
        if method == "GET":
            return copy.deepcopy(self._existing(key))
        if method == "POST" and verb == "listInstances":
            self._existing(key)
            return {"items": [{"instance": m, "status": "RUNNING"}
                              for m in self.group_members.get(key, [])]}  # fmt: skip
        request_id = query.get("requestId")
        if request_id and request_id in self.request_ids:
            return copy.deepcopy(self.operations[self.request_ids[request_id]].body)
        if method == "POST" and name is None:
            operation = self._compute_insert(project, scope, collection, body)
        elif method == "DELETE":
            operation = self._compute_delete(project, scope, key)
        elif method == "PATCH":
            current = self._existing(key)
            operation = self._compute_operation(
                project, scope, "patch", key, lambda: current.update(body)
            )
        elif method == "PUT":
            current = self._existing(key)
            kept = {k: current[k] for k in ("id", "selfLink", "creationTimestamp")}
            operation = self._compute_operation(
                project, scope, "update", key,
                lambda: (current.clear(), current.update({**body, **kept})),
            )  # fmt: skip
        elif method == "POST" and verb:
            operation = self._compute_verb(project, scope, key, verb, body)
        else:
            raise FakeHttpError(400, "badRequest", f"{method} {rest} is not supported")
        if request_id:
            self.request_ids[request_id] = operation.body["name"]
        return copy.deepcopy(operation.body)

    def _compute_operation(
        self, project: str, scope: str, verb: str, target: str, effect: Callable[[], None]
    ) -> Operation:
        name = f"operation-{next(self._ids)}"
        body: dict[str, Any] = {
            "kind": "compute#operation",
            "id": str(next(self._ids)),
            "name": name,
            "operationType": verb,
            "targetLink": f"{SELF_LINK_ROOT}projects/{project}/{target}",
            "status": "RUNNING",
            "progress": 0,
            "selfLink": f"{SELF_LINK_ROOT}projects/{project}/{scope}/operations/{name}",
        }
        if scope.startswith("zones/"):
            body["zone"] = f"{SELF_LINK_ROOT}projects/{project}/{scope}"
        elif scope.startswith("regions/"):
            body["region"] = f"{SELF_LINK_ROOT}projects/{project}/{scope}"
        return self._new_operation("compute", target, body, effect)

    def _existing(self, key: str) -> dict[str, Any]:
        found = self.resources.get(key)
        if found is None:
            raise FakeHttpError(404, "notFound", f"The resource '{key}' was not found")
        return found

    def _compute_insert(
        self, project: str, scope: str, collection: str, body: dict[str, Any]
    ) -> Operation:
        name = body.get("name") or ""
        key = f"{scope}/{collection}/{name}"
        if not re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", name):
            raise FakeHttpError(400, "invalid", f"Invalid value for resource.name: {name!r}")
        if key in self.resources:
            raise FakeHttpError(409, "alreadyExists", f"The resource '{key}' already exists")
        link = f"{SELF_LINK_ROOT}projects/{project}"
        resource = {
            **copy.deepcopy(body),
            "id": str(next(self._ids)),
            "selfLink": f"{link}/{key}",
            "creationTimestamp": "2024-01-01T00:00:00.000-00:00",
        }
        if scope != "global":
            resource[scope.split("/")[0][:-1]] = f"{link}/{scope}"
        if "labels" in body or collection in ("instances", "forwardingRules"):
            resource["labelFingerprint"] = f"fp-{next(self._ids)}"
        effects: list[Callable[[], None]] = []
        if collection == "subnetworks":
            network = self._existing(_relative(body.get("network", "")))
            links = network.setdefault("subnetworks", [])
            effects.append(lambda: links.append(resource["selfLink"]))
        if collection == "instances":
            self._instance_parts(link, scope, resource, effects)
        if collection == "forwardingRules":
            resource.setdefault("IPAddress", f"34.120.0.{next(self._ids) % 250}")
        if collection == "sslCertificates" and body.get("type") == "MANAGED":
            domains = resource.get("managed", {}).get("domains", [])
            resource["managed"] = {
                "domains": domains,
                "status": "PROVISIONING",
                "domainStatus": {d: "PROVISIONING" for d in domains},
            }
        if collection == "instanceGroups":
            resource["size"] = 0

        def create() -> None:
            for effect in effects:
                effect()
            self.resources[key] = resource

        return self._compute_operation(project, scope, "insert", key, create)

    def _instance_parts(
        self,
        link: str,
        scope: str,
        resource: dict[str, Any],
        effects: list[Callable[[], None]],
    ) -> None:
        resource["status"] = "RUNNING"
        resource.setdefault("tags", {}).setdefault("fingerprint", f"fp-{next(self._ids)}")
        resource["machineType"] = _absolute(link, resource.get("machineType", ""))
        for index, interface in enumerate(resource.get("networkInterfaces", [])):
            interface["networkIP"] = f"10.128.0.{next(self._ids) % 250}"
            interface["name"] = f"nic{index}"
            for access in interface.get("accessConfigs", []):
                access["natIP"] = f"35.200.0.{next(self._ids) % 250}"
        for disk in resource.get("disks", []):
            params = disk.pop("initializeParams", {})
            disk_key = f"{scope}/disks/{params.get('diskName') or resource['name']}"
            disk_body = {
                "name": disk_key.rsplit("/", 1)[-1],
                "sizeGb": str(params.get("diskSizeGb", "10")),
                "sourceImage": params.get("sourceImage", ""),
                "selfLink": f"{link}/{disk_key}",
            }
            disk.update(source=disk_body["selfLink"], diskSizeGb=disk_body["sizeGb"])
            effects.append(lambda k=disk_key, b=disk_body: self.resources.__setitem__(k, b))

    def _compute_delete(self, project: str, scope: str, key: str) -> Operation:
        found = self._existing(key)
        if key.startswith("global/networks/") and found.get("subnetworks"):
            raise FakeHttpError(
                400,
                "resourceInUseByAnotherResource",
                f"The network resource '{key}' is already being used by a subnetwork",
            )

        def delete() -> None:
            self.resources.pop(key, None)
            if "/subnetworks/" in key:
                network = self.resources.get(_relative(found.get("network", "")), {})
                links = network.get("subnetworks", [])
                if found["selfLink"] in links:
                    links.remove(found["selfLink"])
            if "/instances/" in key:
                for disk in found.get("disks", []):
                    if disk.get("autoDelete", True):
                        self.resources.pop(_relative(disk["source"]), None)
            self.group_members.pop(key, None)

        return self._compute_operation(project, scope, "delete", key, delete)

    def _compute_verb(
        self, project: str, scope: str, key: str, verb: str, body: dict[str, Any]
    ) -> Operation:
        found = self._existing(key)
        members = self.group_members.setdefault(key, []) if verb.endswith("Instances") else []

        def set_labels() -> None:
            found["labels"] = body.get("labels", {})
            found["labelFingerprint"] = f"fp-{next(self._ids)}"

        def set_tags() -> None:
            found["tags"] = {"items": body.get("items", []), "fingerprint": f"fp-{next(self._ids)}"}

        def set_machine_type() -> None:
            found["machineType"] = _absolute(f"{SELF_LINK_ROOT}projects/{project}",
                                             body["machineType"])  # fmt: skip

        def add() -> None:
            members.extend(i["instance"] for i in body.get("instances", []))
            found["size"] = len(members)

        def remove() -> None:
            gone = {_relative(i["instance"]) for i in body.get("instances", [])}
            members[:] = [m for m in members if _relative(m) not in gone]
            found["size"] = len(members)

        effects: dict[str, Callable[[], None]] = {
            "setLabels": set_labels,
            "setTags": set_tags,
            "setMachineType": set_machine_type,
            "stop": lambda: found.update(status="TERMINATED"),
            "start": lambda: found.update(status="RUNNING"),
            "setSslCertificates": lambda: found.update(sslCertificates=body["sslCertificates"]),
            "setUrlMap": lambda: found.update(urlMap=body["urlMap"]),
            "setNamedPorts": lambda: found.update(namedPorts=body.get("namedPorts", [])),
            "addInstances": add,
            "removeInstances": remove,
        }
        if verb not in effects:
            raise FakeHttpError(400, "badRequest", f"verb {verb} is not supported")
        if verb == "setLabels" and body.get("labelFingerprint") != found.get("labelFingerprint"):
            raise FakeHttpError(412, "conditionNotMet", "labelFingerprint is stale")
        if verb == "setMachineType" and found.get("status") != "TERMINATED":
            raise FakeHttpError(
                400, "resourceNotReady", "The instance must be stopped to change its machine type"
            )
        return self._compute_operation(project, scope, verb, key, effects[verb])

    # -- Cloud SQL --------------------------------------------------------------------------

    def _sql(self, method: str, match: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        project, kind, name = match["project"], match["kind"], match["name"]
        if kind == "operations":
            if name is None:
                raise FakeHttpError(400, "badRequest", "list of operations not supported")
            return copy.deepcopy(self._poll(name).body)
        if method == "GET":
            if name is None:
                return {"items": copy.deepcopy(list(self.sql.values()))}
            return copy.deepcopy(self._sql_instance(name))
        if method == "POST" and name is None:
            name = body.get("name", "")
            if name in self.sql or name in self.sql_reserved:
                # The real API says the same for a live name and for a reserved one.
                raise FakeHttpError(
                    409, "instanceAlreadyExists", "The Cloud SQL instance already exists."
                )
            if len(name) > 98 or not re.fullmatch(r"[a-z][-a-z0-9]*", name):
                raise FakeHttpError(400, "invalid", f"Invalid instance name {name!r}: lowercase "
                                    "letters, digits and hyphens, starting with a letter, at "
                                    "most 98 characters")  # fmt: skip
            _check_sql_tier(body.get("databaseVersion", ""), body.get("settings", {}))
            region = body.get("region", "us-central1")
            instance = {
                **copy.deepcopy(body),
                "kind": "sql#instance",
                "state": "PENDING_CREATE",
                "project": project,
                "region": region,
                "connectionName": f"{project}:{region}:{name}",
                "selfLink": f"https://sqladmin.googleapis.com/v1/projects/{project}/instances/{name}",
            }
            instance.setdefault("settings", {})["settingsVersion"] = "1"
            self.sql[name] = instance

            def created() -> None:
                instance["state"] = "RUNNABLE"
                instance["ipAddresses"] = [
                    {"type": "PRIMARY", "ipAddress": f"34.70.0.{next(self._ids) % 250}"}
                ]

            return self._sql_operation(project, name, "CREATE", created)
        instance = self._sql_instance(name)
        if method == "PATCH":
            merged = {**instance["settings"], **body.get("settings", {})}
            _check_sql_tier(instance.get("databaseVersion", ""), merged)

            def patched() -> None:
                settings = body.get("settings", {})
                instance["settings"].update(settings)
                instance.update({k: v for k, v in body.items() if k != "settings"})
                version = int(instance["settings"].get("settingsVersion", "1")) + 1
                instance["settings"]["settingsVersion"] = str(version)

            return self._sql_operation(project, name, "UPDATE", patched)
        if method == "DELETE":
            instance["state"] = "PENDING_DELETE"  # still listed until the delete is done

            def deleted() -> None:
                self.sql.pop(name, None)
                self.sql_reserved.add(name)

            return self._sql_operation(project, name, "DELETE", deleted)
        raise FakeHttpError(400, "badRequest", f"{method} instances is not supported")

    def _sql_instance(self, name: str) -> dict[str, Any]:
        instance = self.sql.get(name)
        if instance is None:
            raise FakeHttpError(
                404, "instanceDoesNotExist", "The Cloud SQL instance does not exist."
            )
        return instance

    def _sql_operation(
        self, project: str, target: str, kind: str, effect: Callable[[], None]
    ) -> dict[str, Any]:
        name = f"op-{next(self._ids)}"
        body = {
            "kind": "sql#operation",
            "name": name,
            "status": "PENDING",
            "operationType": kind,
            "targetId": target,
            "targetProject": project,
            "selfLink": f"https://sqladmin.googleapis.com/v1/projects/{project}/operations/{name}",
        }
        return copy.deepcopy(self._new_operation("sql", f"sql/{target}", body, effect).body)

    # -- Memorystore ------------------------------------------------------------------------

    def _redis(
        self, method: str, match: dict[str, Any], query: dict[str, str], body: dict[str, Any]
    ) -> dict[str, Any]:
        parent = f"projects/{match['project']}/locations/{match['location']}"
        kind, name = match["kind"], match["name"]
        if kind == "operations":
            return copy.deepcopy(self._poll(f"{parent}/operations/{name}").body)
        if method == "GET" and name is None:
            found = [copy.deepcopy(v) for k, v in self.redis.items() if k.startswith(parent)]
            return {"instances": found}
        if method == "POST" and name is None:
            instance_id = query.get("instanceId", "")
            if not re.fullmatch(r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?", instance_id):
                raise FakeHttpError(400, "invalid", f"Invalid instance_id {instance_id!r}: "
                                    "1-40 lowercase letters, digits and hyphens, starting with "
                                    "a letter and ending with a letter or digit")  # fmt: skip
            full = f"{parent}/instances/{instance_id}"
            if full in self.redis:
                raise FakeHttpError(409, "alreadyExists", f"Resource '{full}' already exists")
            # Without authorizedNetwork Memorystore connects the project's `default` network,
            # which a project may not have.
            default = f"projects/{match['project']}/global/networks/default"
            network = body.get("authorizedNetwork") or default
            if _relative(network) not in self.resources:
                raise FakeHttpError(
                    400, "invalid", f"Invalid authorized network {network!r}: network not found"
                )
            instance = {
                **_redis_enums(body),
                "name": full,
                "state": "CREATING",
                "locationId": body.get("locationId") or f"{match['location']}-a",
                "createTime": "2024-01-01T00:00:00Z",
            }
            instance.setdefault("redisVersion", "REDIS_7_0")
            self.redis[full] = instance

            def created() -> None:
                instance.update(state="READY", host=f"10.0.0.{next(self._ids) % 250}", port=6379)

            return self._redis_operation(parent, full, "create", created)
        full = f"{parent}/instances/{name}"
        instance = self.redis.get(full)
        if instance is None:
            raise FakeHttpError(404, "notFound", f"Resource '{full}' was not found")
        if method == "GET":
            return copy.deepcopy(instance)
        if method == "PATCH":
            fields = [f for f in query.get("updateMask", "").split(",") if f]
            changes = _redis_enums(body)
            instance["state"] = "UPDATING"

            def updated() -> None:
                for key in fields:
                    camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)
                    if camel in changes:
                        instance[camel] = changes[camel]
                instance["state"] = "READY"

            return self._redis_operation(parent, full, "update", updated)
        if method == "DELETE":
            instance["state"] = "DELETING"
            return self._redis_operation(parent, full, "delete", lambda: self.redis.pop(full))
        raise FakeHttpError(400, "badRequest", f"{method} redis instance is not supported")

    def _redis_operation(
        self, parent: str, target: str, verb: str, effect: Callable[[], None]
    ) -> dict[str, Any]:
        name = f"{parent}/operations/operation-{next(self._ids)}"
        body = {
            "name": name,
            "done": False,
            "metadata": {
                "@type": "type.googleapis.com/google.cloud.redis.v1.OperationMetadata",
                "target": target,
                "verb": verb,
            },
        }

        def result() -> dict[str, Any]:
            if verb == "delete":
                return {"@type": "type.googleapis.com/google.protobuf.Empty"}
            return {
                "@type": "type.googleapis.com/google.cloud.redis.v1.Instance",
                **copy.deepcopy(self.redis[target]),
            }

        operation = self._new_operation("redis", f"redis/{target}", body, effect, result)
        return copy.deepcopy(operation.body)


def _check_sql_tier(version: str, settings: dict[str, Any]) -> None:
    """Cloud SQL's rules on the machine tier: its edition (Enterprise Plus, the default for
    new PostgreSQL 16+ instances, runs only db-perf-optimized-*; Enterprise runs the rest),
    and PostgreSQL's refusal of the predefined db-n1-* tiers (shared-core or custom only)."""
    tier = str(settings.get("tier", ""))
    major = re.fullmatch(r"POSTGRES_(\d+)(_\d+)?", version)
    default = "ENTERPRISE_PLUS" if major and int(major.group(1)) >= 16 else "ENTERPRISE"
    edition = settings.get("edition") or default
    if (edition == "ENTERPRISE_PLUS") != tier.startswith("db-perf-optimized-"):
        raise FakeHttpError(
            400, "invalid", f"Invalid Tier ({tier}) for ({edition}) Edition."
        )
    if major and tier.startswith("db-n1-"):
        raise FakeHttpError(
            400, "invalid",
            "Invalid request: Only custom or shared-core instance Billing Tier type allowed "
            "for PostgreSQL database.",
        )  # fmt: skip


def _child(key: str, base: str) -> bool:
    return key.startswith(f"{base}/") and "/" not in key[len(base) + 1 :]


def _relative(url: str) -> str:
    """"https://.../projects/p/global/networks/n" or "projects/p/global/networks/n" ->
    "global/networks/n"."""
    match = re.search(r"projects/[^/]+/(.+)$", url)
    return match.group(1) if match else url


def _absolute(link: str, url: str) -> str:
    return url if url.startswith("https://") else f"{link}/{_relative(url)}"


def _redis_enums(body: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(body)
    for key, names in REDIS_ENUMS.items():
        if isinstance(result.get(key), int):
            result[key] = names.get(result[key], str(result[key]))
    return result
