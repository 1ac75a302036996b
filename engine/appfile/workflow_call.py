"""The spec's step.workflow_call as wfctl's step.call_pipeline.

    - name: route                          - name: route
      type: step.workflow_call               type: step.call_pipeline
      config:                                config:
        workflow: route-ticket                 pipeline: route-ticket
        mode: sync                             mode: sync
        input: {id: "{{ .id }}"}               input: {id: "{{ id }}"}
        output_mapping: {agent: agent_id}      output_mapping: {agent: agent_id}
                                               timeout: 30s

Both engines call a pipeline of the same application by name, wait for it (sync) or not
(async), render `input` as the called run's data and pick `output_mapping` keys from its
result. The differences are made explicit here: the spec passes the whole current state
when `input` is absent (so does this mapping), waits 30s by default (so does this mapping;
in wfctl the called pipeline is a child workflow and the timeout its execution timeout),
and ignores output_mapping on an async call (dropped, with a note). What has no counterpart
(`stop_pipeline: true`) is refused with its key named.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.appfile.expressions import translate
from interfaces.errors import ConfigError

WORKFLOW_CALL_KEYS = ("workflow", "mode", "input", "output_mapping", "timeout", "stop_pipeline")
# The spec's WorkflowCallStep waits this long unless `timeout` says otherwise.
DEFAULT_TIMEOUT = "30s"


def call_pipeline_config(config: Mapping[str, Any], notes: list[str], where: str) -> dict[str, Any]:
    """step.call_pipeline's config for a step.workflow_call's (templates already translated);
    ConfigError naming each key that cannot be mapped. `notes` gets what changed."""
    problems: list[str] = []
    unknown = [str(k) for k in config if k not in WORKFLOW_CALL_KEYS]
    if unknown:
        problems.append(f"config: unknown key(s) {', '.join(unknown)} of step.workflow_call "
                        f"(it has {', '.join(WORKFLOW_CALL_KEYS)})")
    workflow = config.get("workflow")
    if not isinstance(workflow, str) or not workflow:
        problems.append("config.workflow: the name of the pipeline to call is required")
    mode = config.get("mode", "sync")
    if mode not in ("sync", "async"):
        problems.append(f"config.mode: {mode!r} is not sync or async")
    stop = config.get("stop_pipeline", False)
    if stop is not False:
        problems.append(f"config.stop_pipeline: {stop!r} has no wfctl counterpart (a call "
                        "cannot end its caller; end the pipeline with a step.json_response "
                        "or step.fail after it, or drop the key)")
    if problems:
        raise ConfigError(problems)
    native: dict[str, Any] = {"pipeline": workflow, "mode": mode}
    if "input" in config and config["input"] is not None:
        native["input"] = config["input"]
    else:
        # The spec hands the called pipeline the caller's whole current state.
        native["input"] = translate("{{ . }}")
    mapping = config.get("output_mapping")
    if mapping and mode == "async":
        notes.append(f"{where}: output_mapping dropped: an async call has no result (the spec "
                     "ignores it too)")
    elif mapping is not None:
        native["output_mapping"] = mapping
    elif mode == "sync":
        notes.append(f"{where}: no output_mapping: the called pipeline's result is this step's "
                     "output itself (the spec nests it under `result`)")
    native["timeout"] = config.get("timeout") or DEFAULT_TIMEOUT
    return native
