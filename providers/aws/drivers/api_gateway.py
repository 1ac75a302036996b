"""infra.api_gateway: an API Gateway v2 HTTP API and the stage it is served from."""

from __future__ import annotations

from typing import Any

from interfaces import HealthResult, ResourceOutput, ResourceRef, ResourceSpec
from providers.aws import tags as awstags
from providers.aws.base import AwsDriver

# The stack's words for CORS settings, and API Gateway's.
_CORS_KEYS = {
    "allow_origins": "AllowOrigins",
    "allow_methods": "AllowMethods",
    "allow_headers": "AllowHeaders",
    "expose_headers": "ExposeHeaders",
    "allow_credentials": "AllowCredentials",
    "max_age": "MaxAge",
}
_LIST_CORS_KEYS = frozenset({"allow_origins", "allow_methods", "allow_headers", "expose_headers"})


class ApiGatewayDriver(AwsDriver):
    """Config: api_name (default <stack>-<name>), protocol (HTTP default, or WEBSOCKET),
    description, stage (default "$default", served at the API's root; a WEBSOCKET API names
    its own), auto_deploy (default true), cors ({allow_origins, allow_methods, allow_headers,
    expose_headers, allow_credentials, max_age}), tags. API names are not unique in AWS: the
    API is found again by its wfctl tags."""

    resource_type = "infra.api_gateway"
    FORCE_NEW = frozenset({"protocol"})
    UPDATABLE = frozenset({"api_name", "description", "stage", "auto_deploy", "cors", "tags"})
    OUTPUTS = frozenset({
        "api_id", "api_name", "arn", "auto_deploy", "cors", "description", "endpoint", "invoke_url",
        "protocol", "stage", "stages", "tags"
    })

    def create(self, spec: ResourceSpec) -> ResourceOutput:
        protocol = self._protocol(spec)
        self._stage_name(spec)
        with self.errors(spec.name):
            api = self._find(spec.name)
            if api is None:
                params: dict[str, Any] = {
                    "Name": self.api_name(spec),
                    "ProtocolType": protocol,
                    "Tags": self.tags_for(spec),
                }
                if spec.config.get("description"):
                    params["Description"] = str(spec.config["description"])
                if spec.config.get("cors"):
                    params["CorsConfiguration"] = self._cors(spec)
                if protocol == "WEBSOCKET":
                    params["RouteSelectionExpression"] = "$request.body.action"
                api = self.apigw.create_api(**params)
            self.made(api["ApiId"])
            self._converge(api, spec)
        return self.read(ResourceRef(name=spec.name, type=spec.type, provider_id=api["ApiId"]))

    def locate(self, spec: ResourceSpec) -> str:
        with self.errors(spec.name):
            api = self._find(spec.name)
        return str(api["ApiId"]) if api else ""

    def read(self, ref: ResourceRef) -> ResourceOutput:
        with self.errors(ref.name):
            api = self.apigw.get_api(ApiId=ref.provider_id)
            stages = self._stages(ref.provider_id)
        stage = _our_stage(stages)
        stage_name = stage["StageName"] if stage else ""
        endpoint = api.get("ApiEndpoint", "")
        outputs = {
            "api_id": api["ApiId"],
            "api_name": api["Name"],
            "protocol": api["ProtocolType"],
            "description": api.get("Description", ""),
            "endpoint": endpoint,
            "arn": self._arn(api["ApiId"]),
            "stage": stage_name,
            "stages": sorted(s["StageName"] for s in stages),
            "auto_deploy": bool(stage.get("AutoDeploy")) if stage else False,
            "invoke_url": _invoke_url(endpoint, stage_name) if stage else "",
            "cors": _cors_from_api(api.get("CorsConfiguration")),
            "tags": awstags.user_tags(api.get("Tags") or {}),
        }
        return self.output(ref.name, api["ApiId"], outputs)

    def update(self, ref: ResourceRef, spec: ResourceSpec) -> ResourceOutput:
        with self.errors(spec.name):
            self._converge(self.apigw.get_api(ApiId=ref.provider_id), spec)
        return self.read(ref)

    def delete(self, ref: ResourceRef) -> None:
        with self.ignoring_missing(ref.name):
            self.apigw.delete_api(ApiId=ref.provider_id)

    def health_check(self, ref: ResourceRef) -> HealthResult:
        current = self.read(ref)
        if not current.outputs["stage"]:
            return HealthResult(
                healthy=False, message=f"{self.describe(ref.name)} has no stage serving it"
            )
        return HealthResult(
            healthy=True,
            message=f"{self.describe(ref.name)} serves {current.outputs['invoke_url']}",
        )

    # -- parts ----------------------------------------------------------------------------

    @property
    def apigw(self) -> Any:
        return self.client("apigatewayv2")

    def api_name(self, spec: ResourceSpec) -> str:
        return str(spec.config.get("api_name") or f"{self.stack}-{spec.name}")[:128]

    def desired_fields(self, spec: ResourceSpec) -> dict[str, Any]:
        fields = super().desired_fields(spec)
        if "api_name" in fields:
            fields["api_name"] = self.api_name(spec)
        if "protocol" in fields:
            fields["protocol"] = self._protocol(spec)
        if "cors" in fields:
            fields["cors"] = _cors_from_api(self._cors(spec))
        return fields

    def _protocol(self, spec: ResourceSpec) -> str:
        protocol = str(spec.config.get("protocol") or "HTTP").upper()
        if protocol not in ("HTTP", "WEBSOCKET"):
            raise self.invalid(spec.name, f"protocol {protocol!r} is not HTTP or WEBSOCKET")
        return protocol

    def _stage_name(self, spec: ResourceSpec) -> str:
        if spec.config.get("stage"):
            return str(spec.config["stage"])
        if self._protocol(spec) == "WEBSOCKET":
            # WebSocket APIs have no $default stage.
            raise self.invalid(spec.name, "a WEBSOCKET api needs `stage`, for example live")
        return "$default"

    def _arn(self, api_id: str) -> str:
        return f"arn:aws:apigateway:{self.context.session.region}::/apis/{api_id}"

    def _find(self, name: str) -> dict[str, Any] | None:
        for page in self.apigw.get_paginator("get_apis").paginate():
            for api in page["Items"]:
                if awstags.is_ours(api.get("Tags") or {}, self.stack, name):
                    return api
        return None

    def _stages(self, api_id: str) -> list[dict[str, Any]]:
        pages = self.apigw.get_paginator("get_stages").paginate(ApiId=api_id)
        return [stage for page in pages for stage in page["Items"]]

    def _cors(self, spec: ResourceSpec) -> dict[str, Any]:
        cors = spec.config.get("cors") or {}
        if not isinstance(cors, dict):
            raise self.invalid(spec.name, "cors must be a mapping")
        unknown = sorted(set(cors) - set(_CORS_KEYS))
        if unknown:
            raise self.invalid(spec.name, f"cors has unknown keys {unknown}")
        result: dict[str, Any] = {}
        for key, value in cors.items():
            if key in _LIST_CORS_KEYS:
                value = [value] if isinstance(value, str) else [str(v) for v in value]
            elif key == "max_age":
                value = int(value)
            else:
                value = bool(value)
            result[_CORS_KEYS[key]] = value
        return result

    def _converge(self, api: dict[str, Any], spec: ResourceSpec) -> None:
        api_id, config = api["ApiId"], spec.config
        arn = self._arn(api_id)
        to_set, to_remove = awstags.tag_changes(api.get("Tags") or {}, self.tags_for(spec))
        if to_set:
            self.apigw.tag_resource(ResourceArn=arn, Tags=to_set)
        if to_remove:
            self.apigw.untag_resource(ResourceArn=arn, TagKeys=to_remove)
        changes: dict[str, Any] = {}
        if api["Name"] != self.api_name(spec):
            changes["Name"] = self.api_name(spec)
        if "description" in config and api.get("Description", "") != (config["description"] or ""):
            changes["Description"] = str(config["description"] or "")
        cors = self._cors(spec)
        have_cors = api.get("CorsConfiguration") or {}
        if "cors" in config and not self.same("cors", cors, have_cors):
            if cors:
                changes["CorsConfiguration"] = cors
            else:
                self.apigw.delete_cors_configuration(ApiId=api_id)
        if changes:
            self.apigw.update_api(ApiId=api_id, **changes)
        self._converge_stage(api_id, spec)

    def _converge_stage(self, api_id: str, spec: ResourceSpec) -> None:
        wanted = self._stage_name(spec)
        auto_deploy = bool(spec.config.get("auto_deploy", True))
        stages = self._stages(api_id)
        current = next((s for s in stages if s["StageName"] == wanted), None)
        if current is None:
            self.apigw.create_stage(
                ApiId=api_id,
                StageName=wanted,
                AutoDeploy=auto_deploy,
                Tags=self.tags_for(spec),
            )
        elif bool(current.get("AutoDeploy")) != auto_deploy:
            self.apigw.update_stage(ApiId=api_id, StageName=wanted, AutoDeploy=auto_deploy)
        # A renamed stage replaces the old one: the stack names one stage, so only it serves.
        for stage in stages:
            if stage["StageName"] != wanted and _is_ours(stage):
                self.apigw.delete_stage(ApiId=api_id, StageName=stage["StageName"])


def _is_ours(stage: dict[str, Any]) -> bool:
    return awstags.STACK_TAG in (stage.get("Tags") or {})


def _our_stage(stages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The stage this resource manages: the one wfctl tagged, else the API's only stage."""
    ours = [s for s in stages if _is_ours(s)]
    if len(ours) == 1:
        return ours[0]
    return stages[0] if len(stages) == 1 else None


def _invoke_url(endpoint: str, stage: str) -> str:
    return endpoint if stage == "$default" else f"{endpoint}/{stage}"


def _cors_from_api(cors: dict[str, Any] | None) -> dict[str, Any]:
    names = {aws: ours for ours, aws in _CORS_KEYS.items()}
    return {names[k]: v for k, v in (cors or {}).items() if k in names}
