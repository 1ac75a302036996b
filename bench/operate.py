"""Operating a running apply: how fast pause and resume take effect, against one action.

    .venv/bin/python bench/operate.py [--latency 1.0 --rounds 5]   (about half a minute)

One dev server, a worker in a separate process (tests/iac_worker_process.py, the "test"
provider with a fixed latency per action), one apply of 40 independent resources at
parallelism 4. Each round pauses it while actions run, waits until they have ended, then
resumes it. Read from the run's history (the server's clock, as the client's on this host):
- pause -> last running action ended: from sending `pause` to the end of the last action
  that was running; an action is never cut short, so at most one action's latency;
- resume -> next action started: from sending `resume` to the first action's start after it;
- one action's latency: median started -> completed of the run's actions.
Also the answer to a second apply while the first runs (the busy error with the holder's
phase and progress), against the 200 ms goal.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.client import Client  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from tests.iac_history import action_spans, events  # noqa: E402
from wfctl.dev import temporal_binary  # noqa: E402
from wfctl.stack_client import StackBusyError, StackClient  # noqa: E402
from workflows import search_attributes  # noqa: E402
from workflows.iac.models import Progress  # noqa: E402


def spawn_worker(address: str, queue: str) -> subprocess.Popen[str]:
    env = {**os.environ, "WFCTL_PROVIDER_MODULES": "tests.iac_test_provider"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.iac_worker_process", address, queue, "16"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


async def progress(client: Client, wid: str) -> Progress:
    return await client.get_workflow_handle(wid).query("progress", result_type=Progress)


async def until(client: Client, wid: str, check: object) -> Progress:
    while True:
        current = await progress(client, wid)
        if check(current):  # type: ignore[operator]
            return current
        await asyncio.sleep(0.02)


async def bench(latency: float, rounds: int) -> None:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=temporal_binary(),
        search_attributes=search_attributes.ALL,
    )
    workdir = Path(tempfile.mkdtemp(prefix="bench-operate-"))
    queue = f"bench-operate-{uuid.uuid4().hex[:6]}"
    worker = spawn_worker(env.client.service_client.config.target_host, queue)
    try:
        client = env.client
        stacks = StackClient(client, queue)
        name = f"op-{uuid.uuid4().hex[:6]}"
        document = {
            "stack": name,
            "state": {"backend": "sqlite", "path": str(workdir / "state.db")},
            "providers": {"main": {"type": "test", "cloud": str(workdir / "cloud.db"),
                                   "latency": latency}},
            "resources": [{"name": f"r{i}", "type": "test.thing"} for i in range(40)],
        }  # fmt: skip
        handle = await stacks.start("apply", document, auto_approve=True, parallelism=4)
        wid = handle.id
        pauses: list[tuple[float, list[str]]] = []
        resumes: list[float] = []
        busy_ms: list[float] = []
        for _ in range(rounds):
            running = await until(client, wid, lambda p: len(p.running) == 4)
            await asyncio.sleep(latency / 2)  # mid-action
            sent = time.time()
            await stacks.pause(name, by="bench")
            pauses.append((sent, list(running.running)))
            await until(client, wid, lambda p: not p.running)
            asked = time.perf_counter()
            try:
                await stacks.start("apply", document, auto_approve=True)
            except StackBusyError:
                busy_ms.append((time.perf_counter() - asked) * 1000)
            resumes.append(time.time())
            await stacks.resume(name, by="bench")
        await handle.result()
        spans = action_spans(await events(client, wid))
    finally:
        worker.kill()
        worker.wait()
        await env.shutdown()

    def ts(moment: datetime | None) -> float:
        assert moment is not None
        return moment.replace(tzinfo=UTC).timestamp()

    latencies = [ts(s.ended) - ts(s.started) for s in spans if s.started and s.ended]
    one = statistics.median(latencies)
    to_quiet = []
    for sent, _ in pauses:
        ended = [ts(s.ended) for s in spans if s.started and ts(s.started) < sent]
        to_quiet.append(max(ended) - sent)
    to_start = [min(ts(s.started) for s in spans if s.started and ts(s.started) > sent) - sent
                for sent in resumes]  # fmt: skip
    print(f"one action's latency (median of {len(latencies)}): {one * 1000:.0f} ms")
    print("| round | pause -> last running action ended | vs one action | "
          "resume -> next action started | vs one action | busy answer |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for i, (quiet, start) in enumerate(zip(to_quiet, to_start, strict=True)):
        busy = f"{busy_ms[i]:.0f} ms" if i < len(busy_ms) else "-"
        print(f"| {i + 1} | {quiet * 1000:.0f} ms | {quiet / one:.2f}x | "
              f"{start * 1000:.0f} ms | {start / one:.3f}x | {busy} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(bench(args.latency, args.rounds))


if __name__ == "__main__":
    main()
