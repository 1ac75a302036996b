"""Azure's rules that no schema holds, as the local ARM fake enforces them.

Each rule returns the refusal the real service answers (status, code, message) or None.
Coded from Microsoft's documentation, independently of the drivers' own tables, so a wrong
table in a driver is caught here rather than copied:

- Azure SQL single databases: provisioned standard-series objectives (GP/BC/HS_Gen5_n) start
  at 2 vCores; serverless (GP_S_ and HS_S_, never Business Critical) offers 1..80 with a
  minimum capacity between 0.5 and its maximum, and only General Purpose auto-pauses
  (15..10080 minutes, or -1); DTU objectives are Basic, S0..S12, P1..P15; the tier must match
  the name. Other hardware families (DC, Fsv2, premium-series) are not modelled: refused.
- Container Instances: OS type, CPU, memory, GPU, restart policy and network profile
  (subnetIds) cannot change on a live group; an image in an Azure Container Registry needs a
  credential for that registry (and an identity credential an identity of the group).
- Azure Cache for Redis: no tier downgrade (Standard to Basic), no scaling down to C0, and
  Basic to Standard cannot change the size in the same operation.
"""

from __future__ import annotations

import re
from typing import Any

Refusal = tuple[int, str, str]

PROVISIONED_VCORES = {2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 24, 32, 40, 80, 128}
SERVERLESS_VCORES = {1, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 24, 32, 40, 80}
VCORE_TIERS = {"GP": "GeneralPurpose", "BC": "BusinessCritical", "HS": "Hyperscale"}
DTU_TIERS = {
    "Basic": "Basic",
    **{f"S{n}": "Standard" for n in (0, 1, 2, 3, 4, 6, 7, 9, 12)},
    **{f"P{n}": "Premium" for n in (1, 2, 4, 6, 11, 15)},
}
REDIS_TIERS = ("Basic", "Standard", "Premium")


def sql_database_sku(body: dict[str, Any]) -> Refusal | None:
    sku = body.get("sku") or {}
    name = str(sku.get("name", ""))
    props = body.get("properties") or {}
    if name in DTU_TIERS:
        if sku.get("tier") not in (None, DTU_TIERS[name]):
            return _invalid_sku(f"{name} is a {DTU_TIERS[name]} objective, not {sku['tier']}")
        return None
    match = re.fullmatch(r"(GP|BC|HS)_(S_)?Gen5", name)
    if not match:
        return _invalid_sku(f"The service objective '{name}' is not supported")
    edition, serverless = match.groups()
    capacity = sku.get("capacity")
    if sku.get("tier") not in (None, VCORE_TIERS[edition]) or sku.get("family") not in (
        None, "Gen5"
    ):  # fmt: skip
        return _invalid_sku(f"tier/family {sku.get('tier')}/{sku.get('family')} for {name}")
    if serverless and edition == "BC":
        return _invalid_sku("serverless compute is General Purpose or Hyperscale only")
    allowed = SERVERLESS_VCORES if serverless else PROVISIONED_VCORES
    if capacity not in allowed:
        return _invalid_sku(f"The service objective '{name}_{capacity}' is not supported")
    if serverless:
        low = props.get("minCapacity")
        if low is not None and not 0.5 <= float(low) <= float(capacity):
            return (400, "InvalidMinCapacity", f"minCapacity {low} is outside 0.5..{capacity}")
        delay = props.get("autoPauseDelay")
        if delay is not None and edition != "GP":
            return (400, "InvalidAutoPauseDelay", "only General Purpose serverless pauses")
        if delay is not None and int(delay) != -1 and not 15 <= int(delay) <= 10080:
            return (400, "InvalidAutoPauseDelay", f"autoPauseDelay {delay} is not 15..10080")
    elif "minCapacity" in props or "autoPauseDelay" in props:
        return (400, "InvalidRequestContent", "minCapacity/autoPauseDelay are for serverless")
    return None


def container_group_update(old: dict[str, Any], new: dict[str, Any]) -> Refusal | None:
    """A PUT on a live container group may not change what needs a new group."""
    before, after = old.get("properties") or {}, new.get("properties") or {}
    changed = [
        label for label, key in (("OS type", "osType"), ("restart policy", "restartPolicy"),
                                 ("network profile", "subnetIds"))  # fmt: skip
        if _lower(before.get(key)) != _lower(after.get(key))
    ]
    old_resources = {c.get("name"): _resources(c) for c in before.get("containers") or []}
    for container in after.get("containers") or []:
        name = container.get("name")
        if name in old_resources and old_resources[name] != _resources(container):
            changed.append(f"CPU/memory/GPU of container {name!r}")
    if not changed:
        return None
    return (
        409, "ContainerGroupUpdateNotAllowed",
        f"The updates on container group '{new.get('name', '')}' are invalid: "
        f"{', '.join(changed)} cannot change in place; delete the group and create it anew.",
    )  # fmt: skip


def container_group_pull(group: dict[str, Any]) -> Refusal | None:
    """An image in an Azure Container Registry is pulled only with a credential for it."""
    props = group.get("properties") or {}
    credentials = {str(c.get("server", "")).lower(): c
                   for c in props.get("imageRegistryCredentials") or []}  # fmt: skip
    identities = {k.lower() for k in
                  ((group.get("identity") or {}).get("userAssignedIdentities") or {})}  # fmt: skip
    for container in props.get("containers") or []:
        image = str((container.get("properties") or {}).get("image", ""))
        host = image.split("/", 1)[0].lower() if "/" in image else ""
        if not host.endswith(".azurecr.io"):
            continue
        credential = credentials.get(host)
        if credential is None:
            return (
                400, "InaccessibleImage",
                f"The image '{image}' in container group '{group.get('name', '')}' is not "
                f"accessible: no credential for {host}.",
            )  # fmt: skip
        identity = credential.get("identity")
        if identity and str(identity).lower() not in identities:
            return (400, "InvalidImageRegistryCredentialIdentity",
                    f"identity {identity} is not an identity of the container group")  # fmt: skip
        if not identity and not (credential.get("username") and credential.get("password")):
            return (
                400, "InvalidImageRegistryCredential",
                f"the credential for {host} needs an identity or username and password",
            )  # fmt: skip
    return None


def redis_scale(old: dict[str, Any], new_sku: dict[str, Any] | None) -> Refusal | None:
    if not new_sku:
        return None
    before = (old.get("properties") or {}).get("sku") or {}
    old_tier, new_tier = str(before.get("name", "")), str(new_sku.get("name", old_tier_of(old)))
    old_size, new_size = before.get("capacity"), new_sku.get("capacity", before.get("capacity"))
    if _rank(new_tier) < _rank(old_tier):
        return (400, "BadRequest", f"Scaling from {old_tier} to {new_tier} is not supported: "
                "a cache cannot move to a lower pricing tier.")  # fmt: skip
    if new_size == 0 and old_size not in (None, 0):
        return (400, "BadRequest", "A cache cannot scale down to C0 from a larger size.")
    if new_tier != old_tier and new_size != old_size:
        return (400, "BadRequest", f"Scaling from {old_tier} to {new_tier} cannot change the "
                "size in the same operation.")  # fmt: skip
    return None


def old_tier_of(resource: dict[str, Any]) -> str:
    return str(((resource.get("properties") or {}).get("sku") or {}).get("name", ""))


def _rank(tier: str) -> int:
    return REDIS_TIERS.index(tier) if tier in REDIS_TIERS else -1


def _resources(container: dict[str, Any]) -> Any:
    resources = (container.get("properties") or {}).get("resources") or {}
    requests = resources.get("requests") or {}
    return (float(requests.get("cpu", 0)), float(requests.get("memoryInGB", 0)),
            requests.get("gpu"), resources.get("limits"))  # fmt: skip


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _invalid_sku(message: str) -> Refusal:
    return (400, "InvalidSku", message)
