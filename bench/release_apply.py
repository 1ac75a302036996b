"""The release example's stack applied by a pipeline's `step.iac_apply` against `wfctl infra
apply` of the same stack (StackClient.apply, what the command runs), side by side.

    .venv/bin/python bench/release_apply.py             # 5 rounds (about 30 s)
    .venv/bin/python bench/release_apply.py --rounds 1

Each round takes a fresh stack name (so each apply is a create of the example's bucket), applies
it once through a one-step pipeline and once directly, in alternating order, and destroys both.
The pipeline adds its own workflow, the step's prepare activity (reading the stack) and the
outputs read afterwards around the same ApplyWorkflow child. Wall time is client start ->
result; the ratio is the overhead of driving the apply from a pipeline.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from activities.pipeline_catalog import PipelineCatalog  # noqa: E402
from activities.step_catalog import default_registry  # noqa: E402
from bench.aws_harness import aws_bench  # noqa: E402
from engine.pipeline_config import parse_pipelines_text  # noqa: E402
from wfctl.client import PipelineExecutor  # noqa: E402
from wfctl.stack_client import StackClient  # noqa: E402
from worker import pipeline_worker  # noqa: E402

PIPELINE = """
pipelines:
  apply-stack:
    steps:
      - name: apply
        type: step.iac_apply
        config: {document: "{{ stack_doc }}"}
"""


def example_stack(moto: str, state: Path, stack: str) -> dict[str, Any]:
    """examples/release.yaml's stack document, its templates filled as a run would fill them."""
    release = yaml.safe_load((ROOT / "examples" / "release.yaml").read_text())
    steps = release["pipelines"]["release"]["steps"]
    document: dict[str, Any] = next(s for s in steps if s["name"] == "live")["config"]["document"]
    document["stack"] = stack
    document["state"] = {"backend": "sqlite", "path": str(state)}
    document["providers"]["aws"]["endpoint_url"] = moto
    [site] = document["resources"]
    site["config"]["bucket"] = f"{stack}-site"
    site["config"]["tags"] = {"release": "bench"}
    return document


async def main(rounds: int) -> None:
    registry = default_registry()
    catalog = PipelineCatalog(parse_pipelines_text(PIPELINE, "<bench>", registry))
    with tempfile.TemporaryDirectory() as folder:
        async with aws_bench("release-bench") as bench:
            stacks = StackClient(bench.client, bench.queue)
            queue = f"release-bench-pipelines-{uuid.uuid4().hex[:6]}"
            executor = PipelineExecutor(bench.client, task_queue=queue)
            async with pipeline_worker(bench.client, catalog, registry, queue, bench.queue):
                piped: list[float] = []
                direct: list[float] = []

                async def by_pipeline(document: dict[str, Any]) -> None:
                    started = time.perf_counter()
                    result = await executor.execute_pipeline("apply-stack", {"stack_doc": document})
                    piped.append(time.perf_counter() - started)
                    assert result["status"] == "applied", result

                async def by_wfctl(document: dict[str, Any]) -> None:
                    started = time.perf_counter()
                    outcome = await stacks.apply(document, auto_approve=True)
                    direct.append(time.perf_counter() - started)
                    assert outcome.status == "applied", outcome

                for round_ in range(rounds + 1):  # round 0 warms both paths up, not counted
                    docs = [
                        example_stack(bench.moto, Path(folder) / f"{i}-{round_}.db",
                                      f"rel-{uuid.uuid4().hex[:8]}")
                        for i in range(2)
                    ]  # fmt: skip
                    order = [(by_pipeline, docs[0]), (by_wfctl, docs[1])]
                    for run, document in order if round_ % 2 else reversed(order):
                        await run(document)
                    for document in docs:
                        await stacks.destroy(document, auto_approve=True)
                    if round_ == 0:
                        piped.clear()
                        direct.clear()
    p, d = statistics.median(piped), statistics.median(direct)
    print(f"rounds: {rounds} (median)")
    print(f"wfctl infra apply (StackClient.apply), s: {d:.3f}")
    print(f"pipeline step.iac_apply, s:              {p:.3f}")
    print(f"pipeline / direct:                       {p / d:.2f}x (+{(p - d) * 1000:.0f} ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(main(parser.parse_args().rounds))
