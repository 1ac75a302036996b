"""`iac.provider` and `iac.state` modules as a stack's provider blocks and state block."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from interfaces.errors import ConfigError

PLUGIN_CLOUDS = {f"workflow-plugin-{cloud}": cloud for cloud in
                 ("aws", "gcp", "azure", "digitalocean")}
SHORTHANDS = {"aws": "aws", "gcp": "gcp", "google": "gcp", "azure": "azure",
              "digitalocean": "digitalocean", "do": "digitalocean"}
STATE_BACKENDS = ("sqlite", "filesystem", "postgres", "memory")
# Backends of the spec wfctl does not have, refused by name.
REMOTE_BACKENDS = ("s3", "gcs", "azure_blob", "spaces")
DEFAULT_STATE_PATH = ".data/state.db"
# `${NAME}` or `$NAME`: an environment reference, which is all a secret may be here.
ENV_REFERENCE = re.compile(r"^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$")
_SECRET_PARTS = ("token", "secret", "password", "access_key", "api_key", "private_key",
                 "credentials_json")


def provider_cloud(module: Mapping[str, Any], where: str) -> str:
    config = module.get("config") or {}
    plugin, shorthand = config.get("plugin"), config.get("provider")
    if isinstance(plugin, str) and plugin:
        if plugin not in PLUGIN_CLOUDS:
            raise ConfigError(
                f"{where}: plugin {plugin!r} is not one wfctl has a provider for "
                f"({', '.join(PLUGIN_CLOUDS)})"
            )
        return PLUGIN_CLOUDS[plugin]
    if isinstance(shorthand, str) and shorthand.lower() in SHORTHANDS:
        return SHORTHANDS[shorthand.lower()]
    raise ConfigError(
        f"{where}: iac.provider needs `provider: aws|gcp|azure|digitalocean` or "
        f"`plugin: workflow-plugin-<cloud>` (got provider={shorthand!r}, plugin={plugin!r})"
    )


def provider_block(
    module: Mapping[str, Any], where: str, region: str | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """(the native provider block, {dropped key: why}); every other key is passed through."""
    cloud = provider_cloud(module, where)
    block: dict[str, Any] = {"type": cloud}
    dropped: dict[str, str] = {}
    for key, value in (module.get("config") or {}).items():
        lowered = str(key).lower()
        if key in ("plugin", "provider"):
            continue
        if key == "credentials":
            if value not in ("env", "environment", None):
                raise ConfigError(
                    f"{where}: credentials {value!r}: wfctl takes credentials from the SDK's "
                    "own chain (environment, profile, role); write `credentials: env`"
                )
            dropped[key] = "the provider SDK's credential chain is always used"
        elif key == "mode":
            dropped[key] = ("the spec's mock mode has no counterpart; point endpoint_url at a "
                            "sandbox (make run starts moto on 127.0.0.1:5000)")
        elif any(part in lowered for part in _SECRET_PARTS):
            match = ENV_REFERENCE.match(str(value)) if isinstance(value, str) else None
            if match is None:
                raise ConfigError(
                    f"{where}: {key} looks like a credential written into the file; give it "
                    "as an environment reference (${NAME}) or leave it to the SDK's chain"
                )
            if cloud == "digitalocean" and "token" in lowered and "spaces" not in lowered:
                block["credentials_env"] = match.group(1)
            else:
                dropped[key] = (f"read by the {cloud} SDK from the worker's environment, "
                                "never from the file")
        elif key == "region" and cloud == "azure":
            block["location"] = value
        else:
            block[key] = value
    if region is not None:
        block["location" if cloud == "azure" else "region"] = region
    return block, dropped


def state_block(
    module: Mapping[str, Any] | None, where: str
) -> tuple[dict[str, Any], str, dict[str, str]]:
    """(the native state block, the note that announces it, {dropped key: why})."""
    if module is None:
        return ({"backend": "sqlite", "path": DEFAULT_STATE_PATH},
                f"no iac.state module: state is kept in the embedded SQLite store at "
                f"{DEFAULT_STATE_PATH}", {})
    config = dict(module.get("config") or {})
    backend = str(config.pop("backend", "sqlite")).lower()
    name = module.get("name")
    if backend in REMOTE_BACKENDS or backend not in STATE_BACKENDS:
        raise ConfigError(
            f"{where}: backend {backend!r} is not supported by wfctl (supported: "
            f"{', '.join(STATE_BACKENDS)}; the state then lives in SQLite or PostgreSQL)"
        )
    if backend == "postgres":
        dsn = config.pop("dsn", None) or config.pop("connection_string", None)
        env_name = config.pop("dsn_env", None)
        if env_name is None:
            match = ENV_REFERENCE.match(str(dsn)) if isinstance(dsn, str) else None
            if match is None:
                raise ConfigError(
                    f"{where}: postgres dsn must be an environment reference such as "
                    "${WFCTL_STATE_DSN} (or dsn_env: NAME): a DSN written here would be "
                    "recorded in every workflow's history"
                )
            env_name = match.group(1)
        dropped = {k: "no counterpart in wfctl's postgres store" for k in config}
        return ({"backend": "postgres", "dsn_env": str(env_name)},
                f"iac.state {name}: postgres, DSN from ${env_name} in the worker's environment",
                dropped)
    path = config.pop("path", None)
    directory = config.pop("directory", None)
    if path is None:
        path = f"{str(directory).rstrip('/')}/state.db" if directory else DEFAULT_STATE_PATH
    dropped = {k: "no counterpart in the embedded SQLite store" for k in config}
    if backend == "sqlite":
        note = f"iac.state {name}: SQLite at {path}"
    else:
        note = (f"iac.state {name}: {backend} maps to the embedded SQLite store at {path}"
                + (" (it survives restarts, unlike the spec's memory backend)"
                   if backend == "memory" else ""))
    return {"backend": "sqlite", "path": str(path)}, note, dropped
