"""CDN endpoints for the DigitalOcean fake, with the rules DigitalOcean's API reference
states beyond pydo's body template (which only marks `origin` required): the origin is a
Spaces bucket's host, one endpoint per origin (409), the TTL is one of five values, a custom
domain needs a certificate that exists, and an endpoint's origin never changes."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

JSON = dict[str, Any]
TTLS = (60, 600, 3600, 86400, 604800)
SPACES_HOST = re.compile(
    r"^([a-z0-9][a-z0-9-]{1,61}[a-z0-9])\.([a-z0-9]+)\.digitaloceanspaces\.com$"
)

Fail = Callable[[int, str, str], Exception]


class CdnEndpoints:
    """`objects` is the fake's table of objects by kind (certificates are looked up there)."""

    def __init__(self, objects: dict[str, dict[str, JSON]], fail: Fail) -> None:
        self.objects = objects
        self.fail = fail
        objects.setdefault("cdn_endpoints", {})

    @property
    def endpoints(self) -> dict[str, JSON]:
        return self.objects["cdn_endpoints"]

    def routes(self) -> list[tuple[str, str, Callable[..., Any]]]:
        return [
            ("GET", r"/v2/cdn/endpoints", self.list),
            ("POST", r"/v2/cdn/endpoints", self.create),
            ("GET", r"/v2/cdn/endpoints/([\w-]+)", self.get),
            ("PUT", r"/v2/cdn/endpoints/([\w-]+)", self.update),
            ("DELETE", r"/v2/cdn/endpoints/([\w-]+)", self.delete),
        ]

    def list(self, query: dict[str, str], body: JSON) -> tuple[int, JSON]:
        per_page, page = int(query.get("per_page", 20)), int(query.get("page", 1))
        items = list(self.endpoints.values())
        chunk = items[(page - 1) * per_page : page * per_page]
        pages: JSON = {"next": "more"} if page * per_page < len(items) else {}
        return 200, {"endpoints": chunk, "links": {"pages": pages}, "meta": {"total": len(items)}}

    def create(self, query: dict[str, str], body: JSON) -> tuple[int, JSON]:
        origin = str(body.get("origin") or "")
        match = SPACES_HOST.match(origin)
        if match is None:
            raise self.fail(422, "unprocessable_entity",
                            f"origin {origin!r} is not the FQDN of a Space")  # fmt: skip
        if any(e["origin"] == origin for e in self.endpoints.values()):
            raise self.fail(409, "conflict", f"an endpoint for origin {origin} already exists")
        endpoint_id = str(uuid.uuid4())
        endpoint = {
            "id": endpoint_id, "origin": origin,
            "endpoint": f"{match[1]}.{match[2]}.cdn.digitaloceanspaces.com",
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "ttl": 3600,
        }  # fmt: skip
        self._write(endpoint, body)
        self.endpoints[endpoint_id] = endpoint
        return 201, {"endpoint": endpoint}

    def get(self, query: dict[str, str], body: JSON, endpoint_id: str) -> tuple[int, JSON]:
        return 200, {"endpoint": self._endpoint(endpoint_id)}

    def update(self, query: dict[str, str], body: JSON, endpoint_id: str) -> tuple[int, JSON]:
        endpoint = self._endpoint(endpoint_id)
        if "origin" in body and body["origin"] != endpoint["origin"]:
            raise self.fail(422, "unprocessable_entity", "an endpoint's origin cannot change")
        changed = dict(endpoint)
        self._write(changed, body)
        endpoint.update(changed)
        return 200, {"endpoint": endpoint}

    def delete(self, query: dict[str, str], body: JSON, endpoint_id: str) -> tuple[int, None]:
        self._endpoint(endpoint_id)
        del self.endpoints[endpoint_id]
        return 204, None

    def _endpoint(self, endpoint_id: str) -> JSON:
        found = self.endpoints.get(endpoint_id)
        if found is None:
            raise self.fail(404, "not_found", "The resource you were accessing could not be found.")
        return found

    def _write(self, endpoint: JSON, body: JSON) -> None:
        ttl = body.get("ttl", endpoint.get("ttl", 3600))
        if ttl not in TTLS or isinstance(ttl, bool):
            raise self.fail(422, "unprocessable_entity",
                            f"ttl must be one of {', '.join(map(str, TTLS))}")  # fmt: skip
        domain = body.get("custom_domain", endpoint.get("custom_domain")) or ""
        certificate = body.get("certificate_id", endpoint.get("certificate_id")) or ""
        if domain and not certificate:
            raise self.fail(422, "unprocessable_entity",
                            "certificate_id is required with custom_domain")  # fmt: skip
        if certificate and certificate not in self.objects.get("certificates", {}):
            raise self.fail(422, "unprocessable_entity", f"certificate {certificate} not found")
        endpoint.update(ttl=ttl)
        if domain:
            endpoint.update(custom_domain=domain, certificate_id=certificate)
        else:
            endpoint.pop("custom_domain", None)
            endpoint.pop("certificate_id", None)
