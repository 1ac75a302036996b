"""A local, stateful stand-in for the DigitalOcean API v2, as much of it as the drivers use.

Speaks the wire protocol pydo speaks (JSON bodies, `Authorization: Bearer`, `per_page`/`page`
paging, DigitalOcean's `{"id": ..., "message": ...}` error bodies). Things that take time in
DigitalOcean take a few polls here: droplets are `new`, databases `creating`, load balancers
`new`, firewalls `waiting`, Let's Encrypt certificates `pending`, app deployments and
droplet/volume actions `in-progress` until their object has been read `settle_polls` times.
Errors can be injected per method and path (`inject`, `inject_rate_limit`), every request is
recorded (`requests`), and tests change or remove objects behind the provider's back
(`change`, `remove`).

Every write (POST, PUT, PATCH) is refused with a 422 naming the fields it lacks that
DigitalOcean requires: those pydo's body templates mark Required (tests/fakes/pydo_schema.py),
and, where pydo's template is empty because the spec's body is a oneOf, those DigitalOcean's
API reference lists (REFERENCE_REQUIRED).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.fakes.digitalocean_cdn import CdnEndpoints
from tests.fakes.pydo_schema import operation_for

JSON = dict[str, Any]
Query = dict[str, str]
NOT_FOUND = {"id": "not_found", "message": "The resource you were accessing could not be found."}
# Required body fields of the writes whose pydo template is `body = {}` (a oneOf in the
# spec), from DigitalOcean's API reference. Rules past "present" (per record type, per
# certificate type) are the handlers' own.
REFERENCE_REQUIRED: dict[str, tuple[str, ...]] = {
    "domains.create_record": ("type",),
    "droplets.create": ("name", "size", "image"),
    "volumes.create": ("name", "size_gigabytes"),
    "load_balancers.create": ("forwarding_rules",),
    "load_balancers.update": ("forwarding_rules",),
    "certificates.create": ("name",),
    "droplet_actions.post": ("type",),
    "volume_actions.post_by_id": ("type",),
}


class ApiError(Exception):
    def __init__(self, status: int, error_id: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_id, self.message = status, error_id, message


def _unprocessable(message: str) -> ApiError:
    return ApiError(422, "unprocessable_entity", message)


def _missing() -> ApiError:
    return ApiError(404, NOT_FOUND["id"], NOT_FOUND["message"])


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    at: float
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers sent


@dataclass
class Injection:
    method: str
    path: re.Pattern[str]
    status: int
    body: JSON
    headers: Callable[[], dict[str, str]]
    times: int


@dataclass
class Pending:
    """An object or action that settles after `polls` more reads."""

    polls: int
    settle: Callable[[], None]
    extra: list[str] = field(default_factory=list)


class DigitalOceanFake:
    def __init__(self, token: str = "fake-token", settle_polls: int = 2) -> None:
        self.token = token
        self.settle_polls = settle_polls
        self.requests: list[Recorded] = []
        self._lock = threading.RLock()
        self._injections: list[Injection] = []
        self._pending: dict[tuple[str, str], Pending] = {}
        self._ids = 1000
        self.objects: dict[str, dict[str, JSON]] = {
            kind: {}
            for kind in ("droplets", "actions", "volumes", "databases", "vpcs", "firewalls",
                         "load_balancers", "domains", "apps", "certificates", "tags")
        }  # fmt: skip
        self.records: dict[str, dict[str, JSON]] = {}
        self.registry: JSON | None = None
        self.subscription_tier = ""
        self.cdn = CdnEndpoints(self.objects, ApiError)
        self._routes = self._route_table()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- test controls --------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> DigitalOceanFake:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def provider_config(self, credentials_env: str, **extra: Any) -> dict[str, Any]:
        """A digitalocean provider block pointed at this fake, with fast polling."""
        return {
            "type": "digitalocean", "endpoint": self.url, "insecure_http": True,
            "credentials_env": credentials_env, "region": "nyc3", "poll_interval": 0.02,
            "wait_timeout": 15, "max_retries": 0, **extra,
        }  # fmt: skip

    def inject(
        self,
        method: str,
        path: str,
        status: int,
        body: JSON | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests whose path matches regex `path` with `status`."""
        error_ids = {
            401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
            422: "unprocessable_entity", 429: "too_many_requests", 500: "server_error",
        }  # fmt: skip
        fixed = dict(headers or {})
        with self._lock:
            self._injections.append(
                Injection(
                    method.upper(),
                    re.compile(path),
                    status,
                    body or {"id": error_ids.get(status, "error"), "message": f"injected {status}"},
                    lambda: fixed,
                    times,
                )
            )

    def inject_rate_limit(self, method: str, path: str, reset_in: float = 2.0) -> None:
        """A 429 whose `ratelimit-reset` (Unix seconds) is `reset_in` seconds after it is sent."""

        def headers() -> dict[str, str]:
            return {
                "ratelimit-limit": "5000",
                "ratelimit-remaining": "0",
                "ratelimit-reset": str(math.ceil(time.time() + reset_in)),
            }

        with self._lock:
            self._injections.append(
                Injection(
                    method.upper(),
                    re.compile(path),
                    429,
                    {"id": "too_many_requests", "message": "API Rate limit exceeded."},
                    headers,
                    1,
                )
            )

    def change(self, kind: str, object_id: Any, **fields: Any) -> None:
        """Edit an object behind the provider's back."""
        with self._lock:
            self.objects[kind][str(object_id)].update(fields)

    def remove(self, kind: str, object_id: Any) -> None:
        with self._lock:
            self.objects[kind].pop(str(object_id), None)

    def calls(self, method: str, path_regex: str) -> list[Recorded]:
        with self._lock:
            return [
                r for r in self.requests
                if r.method == method and re.fullmatch(path_regex, r.path)
            ]  # fmt: skip

    # -- plumbing -------------------------------------------------------------------------

    def _new_id(self) -> int:
        self._ids += 1
        return self._ids

    def _later(self, kind: str, object_id: str, settle: Callable[[], None]) -> None:
        self._pending[(kind, object_id)] = Pending(self.settle_polls, settle)

    def _tick(self, kind: str, object_id: str) -> None:
        pending = self._pending.get((kind, object_id))
        if pending is None:
            return
        pending.polls -= 1
        if pending.polls <= 0:
            del self._pending[(kind, object_id)]
            pending.settle()

    def _get(self, kind: str, object_id: str) -> JSON:
        found = self.objects[kind].get(str(object_id))
        if found is None:
            raise _missing()
        return found

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes
    ) -> tuple[int, dict[str, str], JSON | None]:
        url = urlparse(raw_path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            body = json.loads(raw_body) if raw_body else None
        except ValueError:
            body = None
        with self._lock:
            record = Recorded(method, url.path, query, body, time.time())
            self.requests.append(record)
            status, extra, answer = self._answer(method, url.path, query, headers, body)
            record.status, record.headers = status, extra
            return status, extra, answer

    def _answer(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any
    ) -> tuple[int, dict[str, str], JSON | None]:
        for injection in self._injections:
            if injection.method == method and injection.path.fullmatch(path):
                injection.times -= 1
                if injection.times <= 0:
                    self._injections.remove(injection)
                return injection.status, injection.headers(), injection.body
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {}, {"id": "unauthorized", "message": "Unable to authenticate you."}
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if route_method == method and match:
                missing = _missing_fields(method, path, body)
                if missing:
                    message = f"{', '.join(missing)}: required by the API and missing"
                    return 422, {}, {"id": "unprocessable_entity", "message": message}
                try:
                    status, answer = handler(query, body or {}, *match.groups())
                except ApiError as error:
                    return error.status, {}, {"id": error.error_id, "message": error.message}
                return status, {}, answer
        return 404, {}, dict(NOT_FOUND)

    def _route_table(self) -> list[tuple[str, re.Pattern[str], Callable[..., Any]]]:
        table = [
            ("GET", r"/v2/actions/(\d+)", self._get_action),
            ("GET", r"/v2/droplets", self._list_droplets),
            ("POST", r"/v2/droplets", self._create_droplet),
            ("GET", r"/v2/droplets/(\d+)", self._get_droplet),
            ("DELETE", r"/v2/droplets/(\d+)", self._delete_droplet),
            ("POST", r"/v2/droplets/(\d+)/actions", self._droplet_action),
            ("GET", r"/v2/droplets/(\d+)/actions/(\d+)", self._get_droplet_action),
            ("POST", r"/v2/tags", self._create_tag),
            ("POST", r"/v2/tags/([^/]+)/resources", self._tag_resources),
            ("DELETE", r"/v2/tags/([^/]+)/resources", self._untag_resources),
            ("GET", r"/v2/volumes", self._list_volumes),
            ("POST", r"/v2/volumes", self._create_volume),
            ("GET", r"/v2/volumes/([\w-]+)", self._simple_get("volumes", "volume")),
            ("DELETE", r"/v2/volumes/([\w-]+)", self._delete_volume),
            ("POST", r"/v2/volumes/([\w-]+)/actions", self._volume_action),
            ("GET", r"/v2/databases", self._list_databases),
            ("POST", r"/v2/databases", self._create_database),
            ("GET", r"/v2/databases/([\w-]+)", self._get_database),
            ("DELETE", r"/v2/databases/([\w-]+)", self._simple_delete("databases")),
            ("PUT", r"/v2/databases/([\w-]+)/resize", self._resize_database),
            ("GET", r"/v2/databases/([\w-]+)/dbs", self._list_dbs),
            ("POST", r"/v2/databases/([\w-]+)/dbs", self._add_db),
            ("DELETE", r"/v2/databases/([\w-]+)/dbs/([\w-]+)", self._delete_db),
            ("GET", r"/v2/databases/([\w-]+)/users", self._list_users),
            ("POST", r"/v2/databases/([\w-]+)/users", self._add_user),
            ("DELETE", r"/v2/databases/([\w-]+)/users/([\w-]+)", self._delete_user),
            ("GET", r"/v2/vpcs", self._simple_list("vpcs")),
            ("POST", r"/v2/vpcs", self._create_vpc),
            ("GET", r"/v2/vpcs/([\w-]+)", self._simple_get("vpcs", "vpc")),
            ("PATCH", r"/v2/vpcs/([\w-]+)", self._patch_vpc),
            ("DELETE", r"/v2/vpcs/([\w-]+)", self._delete_vpc),
            ("GET", r"/v2/firewalls", self._simple_list("firewalls")),
            ("POST", r"/v2/firewalls", self._create_firewall),
            ("GET", r"/v2/firewalls/([\w-]+)", self._get_settling("firewalls", "firewall")),
            ("PUT", r"/v2/firewalls/([\w-]+)", self._update_firewall),
            ("DELETE", r"/v2/firewalls/([\w-]+)", self._simple_delete("firewalls")),
            ("GET", r"/v2/load_balancers", self._simple_list("load_balancers")),
            ("POST", r"/v2/load_balancers", self._create_lb),
            ("GET", r"/v2/load_balancers/([\w-]+)",
             self._get_settling("load_balancers", "load_balancer")),
            ("PUT", r"/v2/load_balancers/([\w-]+)", self._update_lb),
            ("DELETE", r"/v2/load_balancers/([\w-]+)", self._simple_delete("load_balancers")),
            ("POST", r"/v2/domains", self._create_domain),
            ("GET", r"/v2/domains/([\w.-]+)", self._simple_get("domains", "domain")),
            ("DELETE", r"/v2/domains/([\w.-]+)", self._delete_domain),
            ("GET", r"/v2/domains/([\w.-]+)/records", self._list_records),
            ("POST", r"/v2/domains/([\w.-]+)/records", self._create_record),
            ("PATCH", r"/v2/domains/([\w.-]+)/records/(\d+)", self._patch_record),
            ("DELETE", r"/v2/domains/([\w.-]+)/records/(\d+)", self._delete_record),
            ("GET", r"/v2/registry", self._get_registry),
            ("POST", r"/v2/registry", self._create_registry),
            ("DELETE", r"/v2/registry", self._delete_registry),
            ("GET", r"/v2/registry/subscription", self._get_subscription),
            ("POST", r"/v2/registry/subscription", self._update_subscription),
            ("GET", r"/v2/apps", self._simple_list("apps")),
            ("POST", r"/v2/apps", self._create_app),
            ("GET", r"/v2/apps/([\w-]+)", self._get_settling("apps", "app")),
            ("PUT", r"/v2/apps/([\w-]+)", self._update_app),
            ("DELETE", r"/v2/apps/([\w-]+)", self._delete_app),
            ("GET", r"/v2/certificates", self._list_certificates),
            ("POST", r"/v2/certificates", self._create_certificate),
            ("GET", r"/v2/certificates/([\w-]+)",
             self._get_settling("certificates", "certificate")),
            ("DELETE", r"/v2/certificates/([\w-]+)", self._simple_delete("certificates")),
            *self.cdn.routes(),
        ]  # fmt: skip
        return [(method, re.compile(path), handler) for method, path, handler in table]

    # -- generic handlers -----------------------------------------------------------------

    def _page(self, key: str, items: list[JSON], query: dict[str, str]) -> tuple[int, JSON]:
        per_page = int(query.get("per_page", 20))
        page = int(query.get("page", 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        pages: JSON = {}
        if page * per_page < len(items):
            pages["next"] = f"/v2/{key}?page={page + 1}&per_page={per_page}"
        return 200, {key: chunk, "links": {"pages": pages}, "meta": {"total": len(items)}}

    def _simple_list(self, kind: str) -> Callable[..., tuple[int, JSON]]:
        return lambda query, body: self._page(kind, list(self.objects[kind].values()), query)

    def _simple_get(self, kind: str, key: str) -> Callable[..., tuple[int, JSON]]:
        return lambda query, body, object_id: (200, {key: self._get(kind, object_id)})

    def _get_settling(self, kind: str, key: str) -> Callable[..., tuple[int, JSON]]:
        def get(query: Query, body: JSON, object_id: str) -> tuple[int, JSON]:
            self._get(kind, object_id)
            self._tick(kind, object_id)
            return 200, {key: self._get(kind, object_id)}

        return get

    def _simple_delete(self, kind: str) -> Callable[..., tuple[int, None]]:
        def delete(query: Query, body: JSON, object_id: str) -> tuple[int, None]:
            self._get(kind, object_id)
            del self.objects[kind][object_id]
            return 204, None

        return delete

    def _unique_name(self, kind: str, name: str, **scope: Any) -> None:
        for other in self.objects[kind].values():
            if other.get("name") == name and all(other.get(k) == v for k, v in scope.items()):
                raise _unprocessable(f"name {name!r} is already in use")

    # -- actions --------------------------------------------------------------------------

    def _start_action(
        self, kind: str, resource_id: Any, action_type: str, effect: Callable[[], None]
    ) -> JSON:
        action_id = str(self._new_id())
        action = {
            "id": int(action_id), "status": "in-progress", "type": action_type,
            "started_at": _now(), "completed_at": None, "resource_id": resource_id,
            "resource_type": kind, "region_slug": "nyc3",
        }  # fmt: skip
        self.objects["actions"][action_id] = action

        def complete() -> None:
            effect()
            action.update(status="completed", completed_at=_now())

        self._later("actions", action_id, complete)
        return action

    def _get_action(self, query: Query, body: JSON, action_id: str) -> tuple[int, JSON]:
        self._get("actions", action_id)
        self._tick("actions", action_id)
        return 200, {"action": self._get("actions", action_id)}

    # -- droplets -------------------------------------------------------------------------

    def _list_droplets(self, query: Query, body: JSON) -> tuple[int, JSON]:
        items = [
            d for d in self.objects["droplets"].values()
            if "tag_name" not in query or query["tag_name"] in d["tags"]
        ]  # fmt: skip
        return self._page("droplets", items, query)

    def _create_droplet(self, query: Query, body: JSON) -> tuple[int, JSON]:
        for key in ("name", "region", "size", "image"):
            if not body.get(key):
                raise _unprocessable(f"{key} is required")
        droplet_id = self._new_id()
        size = str(body["size"])
        droplet = {
            "id": droplet_id, "name": body["name"], "status": "new", "locked": False,
            "memory": 1024, "vcpus": 1, "disk": 25, "size_slug": size,
            "size": {"slug": size}, "image": {"slug": body["image"], "distribution": "Ubuntu"},
            "region": {"slug": body["region"], "name": body["region"]},
            "networks": {"v4": [], "v6": []}, "tags": list(body.get("tags") or []),
            "vpc_uuid": body.get("vpc_uuid") or "", "volume_ids": [], "features": [],
            "created_at": _now(),
        }  # fmt: skip
        self.objects["droplets"][str(droplet_id)] = droplet

        def boot() -> None:
            droplet["status"] = "active"
            droplet["networks"]["v4"] = [
                {"ip_address": f"203.0.113.{droplet_id % 250}", "type": "public"},
                {"ip_address": f"10.10.0.{droplet_id % 250}", "type": "private"},
            ]

        self._later("droplets", str(droplet_id), boot)
        create = self._start_action("droplet", droplet_id, "create", lambda: None)
        return 202, {
            "droplet": droplet,
            "links": {"actions": [{"id": create["id"], "rel": "create", "href": ""}]},
        }

    def _get_droplet(self, query: Query, body: JSON, droplet_id: str) -> tuple[int, JSON]:
        self._get("droplets", droplet_id)
        self._tick("droplets", droplet_id)
        return 200, {"droplet": self._get("droplets", droplet_id)}

    def _delete_droplet(self, query: Query, body: JSON, droplet_id: str) -> tuple[int, None]:
        self._get("droplets", droplet_id)
        del self.objects["droplets"][droplet_id]
        for volume in self.objects["volumes"].values():
            if int(droplet_id) in volume["droplet_ids"]:
                volume["droplet_ids"].remove(int(droplet_id))
        return 204, None

    def _droplet_action(self, query: Query, body: JSON, droplet_id: str) -> tuple[int, JSON]:
        droplet = self._get("droplets", droplet_id)
        kind = body.get("type")
        if droplet["locked"]:
            raise _unprocessable("Droplet already has a pending event.")
        if kind == "power_off":
            effect: Callable[[], None] = lambda: droplet.update(status="off")  # noqa: E731
        elif kind == "power_on":
            effect = lambda: droplet.update(status="active")  # noqa: E731
        elif kind == "resize":
            if droplet["status"] != "off":
                raise _unprocessable(
                    "Droplet is currently on. Please power it off to run this event."
                )
            if not body.get("size"):
                raise _unprocessable("size is required")
            size = str(body["size"])
            effect = lambda: droplet.update(size_slug=size, size={"slug": size})  # noqa: E731
        else:
            raise _unprocessable(f"unsupported action type {kind!r}")
        droplet["locked"] = True

        def finish() -> None:
            effect()
            droplet["locked"] = False

        return 201, {"action": self._start_action("droplet", int(droplet_id), kind, finish)}

    def _get_droplet_action(
        self, query: Query, body: JSON, droplet_id: str, action_id: str
    ) -> tuple[int, JSON]:
        return self._get_action(query, body, action_id)

    # -- tags -----------------------------------------------------------------------------

    def _create_tag(self, query: Query, body: JSON) -> tuple[int, JSON]:
        name = str(body.get("name") or "")
        tag = self.objects["tags"].setdefault(name, {"name": name, "resources": {}})
        return 201, {"tag": tag}

    def _tagged_objects(self, body: JSON) -> list[JSON]:
        kinds = {"droplet": "droplets", "volume": "volumes", "database": "databases"}
        found = []
        for resource in body.get("resources") or []:
            kind = kinds.get(resource.get("resource_type"))
            if kind is None:
                raise _unprocessable(f"cannot tag a {resource.get('resource_type')}")
            found.append(self._get(kind, str(resource.get("resource_id"))))
        return found

    def _tag_resources(self, query: Query, body: JSON, tag: str) -> tuple[int, None]:
        self._get("tags", tag)
        for item in self._tagged_objects(body):
            if tag not in item["tags"]:
                item["tags"].append(tag)
        return 204, None

    def _untag_resources(self, query: Query, body: JSON, tag: str) -> tuple[int, None]:
        self._get("tags", tag)
        for item in self._tagged_objects(body):
            if tag in item["tags"]:
                item["tags"].remove(tag)
        return 204, None

    # -- volumes --------------------------------------------------------------------------

    def _list_volumes(self, query: Query, body: JSON) -> tuple[int, JSON]:
        items = [
            v for v in self.objects["volumes"].values()
            if query.get("name", v["name"]) == v["name"]
            and query.get("region", v["region"]["slug"]) == v["region"]["slug"]
        ]  # fmt: skip
        return self._page("volumes", items, query)

    def _create_volume(self, query: Query, body: JSON) -> tuple[int, JSON]:
        if not body.get("name") or not body.get("size_gigabytes") or not body.get("region"):
            raise _unprocessable("name, size_gigabytes and region are required")
        for other in self.objects["volumes"].values():
            if other["name"] == body["name"] and other["region"]["slug"] == body["region"]:
                raise ApiError(409, "conflict", "a volume with that name already exists")
        volume_id = str(uuid.uuid4())
        volume = {
            "id": volume_id, "name": body["name"], "size_gigabytes": int(body["size_gigabytes"]),
            "region": {"slug": body["region"]}, "description": body.get("description", ""),
            "filesystem_type": body.get("filesystem_type", ""), "droplet_ids": [],
            "tags": list(body.get("tags") or []), "created_at": _now(),
        }  # fmt: skip
        self.objects["volumes"][volume_id] = volume
        return 201, {"volume": volume}

    def _delete_volume(self, query: Query, body: JSON, volume_id: str) -> tuple[int, None]:
        if self._get("volumes", volume_id)["droplet_ids"]:
            raise ApiError(409, "conflict", "volume is attached to a droplet")
        del self.objects["volumes"][volume_id]
        return 204, None

    def _volume_action(self, query: Query, body: JSON, volume_id: str) -> tuple[int, JSON]:
        volume = self._get("volumes", volume_id)
        kind = body.get("type")
        if kind in ("attach", "detach"):
            droplet_id = int(body.get("droplet_id") or 0)
            self._get("droplets", str(droplet_id))
            if kind == "attach":
                effect: Callable[[], None] = lambda: volume["droplet_ids"].append(  # noqa: E731
                    droplet_id
                )
            else:
                effect = lambda: volume["droplet_ids"].remove(droplet_id)  # noqa: E731
        elif kind == "resize":
            size = int(body.get("size_gigabytes") or 0)
            if size < volume["size_gigabytes"]:
                raise _unprocessable("a volume cannot shrink")
            effect = lambda: volume.update(size_gigabytes=size)  # noqa: E731
        else:
            raise _unprocessable(f"unsupported action type {kind!r}")
        return 202, {"action": self._start_action("volume", volume_id, kind, effect)}

    # -- databases ------------------------------------------------------------------------

    def _list_databases(self, query: Query, body: JSON) -> tuple[int, JSON]:
        items = [
            d for d in self.objects["databases"].values()
            if "tag_name" not in query or query["tag_name"] in d["tags"]
        ]  # fmt: skip
        return 200, {"databases": items}

    def _create_database(self, query: Query, body: JSON) -> tuple[int, JSON]:
        for key in ("name", "engine", "region", "size", "num_nodes"):
            if not body.get(key):
                raise _unprocessable(f"{key} is required")
        self._unique_name("databases", body["name"])
        cluster_id = str(uuid.uuid4())
        engine = body["engine"]
        host = f"{body['name']}-do-user-1.db.ondigitalocean.com"
        port = {"pg": 25060, "mysql": 25060}.get(engine, 25061)
        password = uuid.uuid4().hex
        cluster = {
            "id": cluster_id, "name": body["name"], "engine": engine,
            "version": str(body.get("version") or {"pg": "16", "valkey": "8"}.get(engine, "1")),
            "region": body["region"], "size": body["size"], "num_nodes": int(body["num_nodes"]),
            "status": "creating", "tags": list(body.get("tags") or []),
            "private_network_uuid": body.get("private_network_uuid") or "",
            "storage_size_mib": body.get("storage_size_mib"),
            "connection": {
                "host": host, "port": port, "user": "doadmin", "password": password,
                "uri": f"{engine}://doadmin:{password}@{host}:{port}/defaultdb",
                "database": "defaultdb", "ssl": True,
            },
            "private_connection": {"host": f"private-{host}", "port": port},
            "db_names": ["defaultdb"] if engine in ("pg", "mysql") else None,
            "users": [{"name": "doadmin", "role": "primary"}], "created_at": _now(),
        }  # fmt: skip
        self.objects["databases"][cluster_id] = cluster
        self._later("databases", cluster_id, lambda: cluster.update(status="online"))
        return 201, {"database": cluster}

    def _get_database(self, query: Query, body: JSON, cluster_id: str) -> tuple[int, JSON]:
        self._get("databases", cluster_id)
        self._tick("databases", cluster_id)
        return 200, {"database": self._get("databases", cluster_id)}

    def _resize_database(self, query: Query, body: JSON, cluster_id: str) -> tuple[int, None]:
        cluster = self._get("databases", cluster_id)
        if cluster["status"] != "online":
            raise _unprocessable(f"cluster is {cluster['status']}")
        size, nodes = str(body.get("size") or ""), int(body.get("num_nodes") or 0)
        if not size or not 1 <= nodes <= 3:
            raise _unprocessable("size and num_nodes (1..3) are required")
        cluster["status"] = "resizing"
        self._later(
            "databases", cluster_id,
            lambda: cluster.update(status="online", size=size, num_nodes=nodes),
        )  # fmt: skip
        return 202, None

    def _list_dbs(self, query: Query, body: JSON, cluster_id: str) -> tuple[int, JSON]:
        cluster = self._get("databases", cluster_id)
        return 200, {"dbs": [{"name": n} for n in cluster["db_names"] or []]}

    def _add_db(self, query: Query, body: JSON, cluster_id: str) -> tuple[int, JSON]:
        cluster = self._get("databases", cluster_id)
        if cluster["db_names"] is None:
            raise _unprocessable(f"{cluster['engine']} clusters have no databases")
        if body.get("name") not in cluster["db_names"]:
            cluster["db_names"].append(str(body["name"]))
        return 201, {"db": {"name": body["name"]}}

    def _delete_db(self, query: Query, body: JSON, cluster_id: str, name: str) -> tuple[int, None]:
        cluster = self._get("databases", cluster_id)
        if name not in (cluster["db_names"] or []):
            raise _missing()
        cluster["db_names"].remove(name)
        return 204, None

    def _list_users(self, query: Query, body: JSON, cluster_id: str) -> tuple[int, JSON]:
        return 200, {"users": self._get("databases", cluster_id)["users"]}

    def _add_user(self, query: Query, body: JSON, cluster_id: str) -> tuple[int, JSON]:
        cluster = self._get("databases", cluster_id)
        user = {"name": str(body.get("name")), "role": "normal", "password": uuid.uuid4().hex}
        cluster["users"] = [u for u in cluster["users"] if u["name"] != user["name"]] + [user]
        return 201, {"user": user}

    def _delete_user(
        self, query: Query, body: JSON, cluster_id: str, name: str
    ) -> tuple[int, None]:
        cluster = self._get("databases", cluster_id)
        if not any(u["name"] == name for u in cluster["users"]):
            raise _missing()
        cluster["users"] = [u for u in cluster["users"] if u["name"] != name]
        return 204, None

    # -- vpcs, firewalls, load balancers --------------------------------------------------

    def _create_vpc(self, query: Query, body: JSON) -> tuple[int, JSON]:
        if not body.get("name") or not body.get("region"):
            raise _unprocessable("name and region are required")
        self._unique_name("vpcs", body["name"])
        vpc_id = str(uuid.uuid4())
        vpc = {
            "id": vpc_id, "urn": f"do:vpc:{vpc_id}", "name": body["name"],
            "region": body["region"], "description": body.get("description", ""),
            "ip_range": body.get("ip_range") or f"10.{len(self.objects['vpcs']) + 100}.0.0/20",
            "default": False, "created_at": _now(),
        }  # fmt: skip
        self.objects["vpcs"][vpc_id] = vpc
        return 201, {"vpc": vpc}

    def _patch_vpc(self, query: Query, body: JSON, vpc_id: str) -> tuple[int, JSON]:
        vpc = self._get("vpcs", vpc_id)
        vpc.update({k: v for k, v in body.items() if k in ("name", "description", "default")})
        return 200, {"vpc": vpc}

    def _delete_vpc(self, query: Query, body: JSON, vpc_id: str) -> tuple[int, None]:
        self._get("vpcs", vpc_id)
        members = [
            item for kind in ("droplets", "databases", "load_balancers")
            for item in self.objects[kind].values()
            if vpc_id in (item.get("vpc_uuid"), item.get("private_network_uuid"))
        ]  # fmt: skip
        if members:
            raise ApiError(403, "forbidden", "Can not delete VPC with members")
        del self.objects["vpcs"][vpc_id]
        return 204, None

    def _create_firewall(self, query: Query, body: JSON) -> tuple[int, JSON]:
        if not body.get("name"):
            raise _unprocessable("name is required")
        firewall_id = str(uuid.uuid4())
        firewall = {"id": firewall_id, "created_at": _now(), "pending_changes": []}
        self._write_firewall(firewall, body)
        self.objects["firewalls"][firewall_id] = firewall
        return 202, {"firewall": firewall}

    def _update_firewall(self, query: Query, body: JSON, firewall_id: str) -> tuple[int, JSON]:
        firewall = self._get("firewalls", firewall_id)
        if not body.get("name"):
            raise _unprocessable("name is required")
        self._write_firewall(firewall, body)
        return 200, {"firewall": firewall}

    def _write_firewall(self, firewall: JSON, body: JSON) -> None:
        for rule in [*(body.get("inbound_rules") or []), *(body.get("outbound_rules") or [])]:
            if rule.get("protocol") not in ("tcp", "udp", "icmp"):
                raise _unprocessable(f"invalid protocol {rule.get('protocol')!r}")
        firewall.update(
            name=body["name"], status="waiting",
            inbound_rules=[_stored_rule(r) for r in body.get("inbound_rules") or []],
            outbound_rules=[_stored_rule(r) for r in body.get("outbound_rules") or []],
            droplet_ids=list(body.get("droplet_ids") or []), tags=list(body.get("tags") or []),
        )  # fmt: skip
        self._later("firewalls", firewall["id"], lambda: firewall.update(status="succeeded"))

    def _create_lb(self, query: Query, body: JSON) -> tuple[int, JSON]:
        if not body.get("name") or not body.get("region") or not body.get("forwarding_rules"):
            raise _unprocessable("name, region and forwarding_rules are required")
        if body.get("tag") and body.get("droplet_ids"):
            raise _unprocessable("specify droplet_ids or tag, not both")
        lb_id = str(uuid.uuid4())
        lb = {"id": lb_id, "ip": "", "created_at": _now(), "region": {"slug": body["region"]}}
        self._write_lb(lb, body)
        lb["status"] = "new"
        self.objects["load_balancers"][lb_id] = lb

        def up() -> None:
            lb.update(status="active", ip=f"198.51.100.{len(self.objects['load_balancers'])}")

        self._later("load_balancers", lb_id, up)
        return 202, {"load_balancer": lb}

    def _update_lb(self, query: Query, body: JSON, lb_id: str) -> tuple[int, JSON]:
        lb = self._get("load_balancers", lb_id)
        if body.get("tag") and body.get("droplet_ids"):
            raise _unprocessable("specify droplet_ids or tag, not both")
        self._write_lb(lb, body)
        return 200, {"load_balancer": lb}

    def _write_lb(self, lb: JSON, body: JSON) -> None:
        lb.update(
            name=body["name"], size_unit=int(body.get("size_unit") or 1),
            forwarding_rules=list(body.get("forwarding_rules") or []),
            health_check={"protocol": "http", "port": 80, "path": "/",
                          "check_interval_seconds": 10, **(body.get("health_check") or {})},
            droplet_ids=list(body.get("droplet_ids") or []), tag=body.get("tag") or "",
            vpc_uuid=body.get("vpc_uuid") or lb.get("vpc_uuid") or "",
            redirect_http_to_https=bool(body.get("redirect_http_to_https")),
        )  # fmt: skip

    # -- domains --------------------------------------------------------------------------

    def _create_domain(self, query: Query, body: JSON) -> tuple[int, JSON]:
        name = str(body.get("name") or "")
        if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", name):
            raise _unprocessable(f"invalid domain name {name!r}")
        if name in self.objects["domains"]:
            raise _unprocessable("Name already exists")
        domain = {"name": name, "ttl": 1800, "zone_file": ""}
        self.objects["domains"][name] = domain
        self.records[name] = {}
        for server in ("ns1", "ns2", "ns3"):
            self._add_record(name, {"type": "NS", "name": "@",
                                    "data": f"{server}.digitalocean.com", "ttl": 1800})  # fmt: skip
        self._add_record(name, {"type": "SOA", "name": "@", "data": "1800", "ttl": 1800})
        if body.get("ip_address"):
            self._add_record(name, {"type": "A", "name": "@", "data": body["ip_address"]})
        return 201, {"domain": domain}

    def _delete_domain(self, query: Query, body: JSON, name: str) -> tuple[int, None]:
        self._get("domains", name)
        del self.objects["domains"][name]
        self.records.pop(name, None)
        return 204, None

    def _add_record(self, domain: str, body: JSON) -> JSON:
        if body.get("type") not in ("A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA", "SRV", "CAA"):
            raise _unprocessable(f"invalid record type {body.get('type')!r}")
        record_id = self._new_id()
        record = {
            "id": record_id, "type": body["type"], "name": body.get("name") or "@",
            "data": str(body.get("data") or ""), "ttl": int(body.get("ttl") or 1800),
            "priority": body.get("priority"), "port": body.get("port"),
            "weight": body.get("weight"), "flags": None, "tag": None,
        }  # fmt: skip
        self.records[domain][str(record_id)] = record
        return record

    def _list_records(self, query: Query, body: JSON, domain: str) -> tuple[int, JSON]:
        self._get("domains", domain)
        return self._page("domain_records", list(self.records[domain].values()), query)

    def _create_record(self, query: Query, body: JSON, domain: str) -> tuple[int, JSON]:
        self._get("domains", domain)
        return 201, {"domain_record": self._add_record(domain, body)}

    def _patch_record(
        self, query: Query, body: JSON, domain: str, record_id: str
    ) -> tuple[int, JSON]:
        self._get("domains", domain)
        record = self.records[domain].get(record_id)
        if record is None:
            raise _missing()
        record.update({k: v for k, v in body.items() if k in record and k != "id"})
        return 200, {"domain_record": record}

    def _delete_record(
        self, query: Query, body: JSON, domain: str, record_id: str
    ) -> tuple[int, None]:
        self._get("domains", domain)
        if self.records[domain].pop(record_id, None) is None:
            raise _missing()
        return 204, None

    # -- registry -------------------------------------------------------------------------

    def _get_registry(self, query: Query, body: JSON) -> tuple[int, JSON]:
        if self.registry is None:
            raise _missing()
        return 200, {"registry": self.registry}

    def _create_registry(self, query: Query, body: JSON) -> tuple[int, JSON]:
        if self.registry is not None:
            raise ApiError(409, "conflict", "a registry already exists for this account")
        tier = str(body.get("subscription_tier_slug") or "")
        if not body.get("name") or tier not in ("starter", "basic", "professional"):
            raise _unprocessable("name and a subscription_tier_slug are required")
        self.registry = {
            "name": body["name"], "region": body.get("region") or "nyc3",
            "created_at": _now(), "storage_usage_bytes": 0,
        }  # fmt: skip
        self.subscription_tier = tier
        return 201, {"registry": self.registry}

    def _delete_registry(self, query: Query, body: JSON) -> tuple[int, None]:
        if self.registry is None:
            raise _missing()
        self.registry = None
        return 204, None

    def _get_subscription(self, query: Query, body: JSON) -> tuple[int, JSON]:
        tier = self.subscription_tier or "starter"
        return 200, {"subscription": {"tier": {"slug": tier, "name": tier.title()}}}

    def _update_subscription(self, query: Query, body: JSON) -> tuple[int, JSON]:
        if body.get("tier_slug") not in ("starter", "basic", "professional"):
            raise _unprocessable("unknown tier")
        self.subscription_tier = str(body["tier_slug"])
        return self._get_subscription(query, body)

    # -- apps -----------------------------------------------------------------------------

    def _create_app(self, query: Query, body: JSON) -> tuple[int, JSON]:
        spec = body.get("spec") or {}
        if not spec.get("name") or not spec.get("services"):
            raise _unprocessable("spec.name and spec.services are required")
        if any(a["spec"]["name"] == spec["name"] for a in self.objects["apps"].values()):
            raise ApiError(409, "conflict", "an app with this name already exists")
        app_id = str(uuid.uuid4())
        app = {
            "id": app_id, "spec": spec, "created_at": _now(),
            "region": {"slug": spec.get("region", "nyc")},
            "default_ingress": f"https://{spec['name']}-{app_id[:5]}.ondigitalocean.app",
        }  # fmt: skip
        app["live_url"] = app["default_ingress"]
        self.objects["apps"][app_id] = app
        self._deploy(app)
        return 200, {"app": app}

    def _update_app(self, query: Query, body: JSON, app_id: str) -> tuple[int, JSON]:
        app = self._get("apps", app_id)
        if not (body.get("spec") or {}).get("services"):
            raise _unprocessable("spec.services is required")
        app["spec"] = body["spec"]
        self._deploy(app)
        return 200, {"app": app}

    def _deploy(self, app: JSON) -> None:
        deployment = {"id": str(uuid.uuid4()), "phase": "BUILDING", "spec": app["spec"]}
        app["in_progress_deployment"] = deployment

        def done() -> None:
            app.pop("in_progress_deployment", None)
            app["active_deployment"] = {**deployment, "phase": "ACTIVE"}

        self._later("apps", app["id"], done)

    def _delete_app(self, query: Query, body: JSON, app_id: str) -> tuple[int, JSON]:
        self._get("apps", app_id)
        del self.objects["apps"][app_id]
        return 200, {"id": app_id}

    # -- certificates ---------------------------------------------------------------------

    def _list_certificates(self, query: Query, body: JSON) -> tuple[int, JSON]:
        items = [
            c for c in self.objects["certificates"].values()
            if not query.get("name") or c["name"] == query["name"]
        ]  # fmt: skip
        return self._page("certificates", items, query)

    def _create_certificate(self, query: Query, body: JSON) -> tuple[int, JSON]:
        kind = body.get("type") or "custom"
        if not body.get("name"):
            raise _unprocessable("name is required")
        self._unique_name("certificates", body["name"])
        cert_id = str(uuid.uuid4())
        cert = {
            "id": cert_id, "name": body["name"], "type": kind, "created_at": _now(),
            "not_after": "2099-01-01T00:00:00Z", "dns_names": list(body.get("dns_names") or []),
        }  # fmt: skip
        if kind == "lets_encrypt":
            if not cert["dns_names"]:
                raise _unprocessable("dns_names are required")
            for dns_name in cert["dns_names"]:
                if not any(dns_name.endswith(d) for d in self.objects["domains"]):
                    raise _unprocessable(f"{dns_name} is not managed by DigitalOcean DNS")
            cert.update(state="pending", sha1_fingerprint="")
            self._later(
                "certificates", cert_id,
                lambda: cert.update(state="verified", sha1_fingerprint=uuid.uuid4().hex),
            )  # fmt: skip
        else:
            if not body.get("private_key") or not body.get("leaf_certificate"):
                raise _unprocessable("private_key and leaf_certificate are required")
            cert.update(state="verified", sha1_fingerprint=_fingerprint(body["leaf_certificate"]))
        self.objects["certificates"][cert_id] = cert
        return 201, {"certificate": cert}


def _stored_rule(rule: JSON) -> JSON:
    """A firewall rule as DigitalOcean keeps it: an ICMP rule's ports always read "0"."""
    return {**rule, "ports": "0"} if rule.get("protocol") == "icmp" else dict(rule)


def _missing_fields(method: str, path: str, body: Any) -> list[str]:
    if method not in ("POST", "PUT", "PATCH"):
        return []
    operation = operation_for(method, path)
    if operation is None:
        return []
    found = operation.body.missing(body or {}) if operation.body is not None else []
    if isinstance(body, dict) or body is None:
        found += [
            key for key in REFERENCE_REQUIRED.get(operation.name, ())
            if (body or {}).get(key) is None and key not in found
        ]  # fmt: skip
    return found


def _fingerprint(pem: str) -> str:
    body = re.sub(r"-----[A-Z ]+-----", "", pem)
    return hashlib.sha1(base64.b64decode("".join(body.split()))).hexdigest()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _handler(fake: DigitalOceanFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes; without this each response waits out
            # the client's delayed ACK (40 ms).
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, answer = fake.handle(self.command, self.path, headers, raw)
            payload = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            if payload:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
