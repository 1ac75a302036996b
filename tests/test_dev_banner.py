"""The "wfctl is running." banner on the default ports: what the README's quickstart meets.

tests/test_dev_service.py runs the banner's commands on random ports."""

from __future__ import annotations

from pathlib import Path

from wfctl.dev import DevService, welcome


def test_on_the_default_ports_the_banner_needs_no_exports() -> None:
    service = DevService(config=Path("examples"), port=7233, ui_port=8233, data_dir=Path(".data"),
                         sandbox_port=5000, metrics_port=0)
    banner = welcome(service)
    assert "export " not in banner and "metrics" not in banner
    assert ("  temporal workflow start --task-queue wfctl-pipelines --type PipelineWorkflow \\\n"
            "      --workflow-id pipeline:hello:from-cli \\\n"
            """      --input '{"pipeline":"hello","data":{"name":"Ada"}}'\n""") in banner
