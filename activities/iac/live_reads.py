"""Reading the live resources of recorded states, for plan, drift and status.

A driver that offers `read_many` (interfaces.BulkReader) is asked for its resources a chunk at
a time, grouped per (provider, type): a few list calls instead of one or more per resource,
which is what makes refreshing a large stack take minutes instead of hours. Other drivers,
and provider blocks with `bulk_read: false`, are read one resource at a time.

Both ways give each name the same answer: the live resource, None when it is gone (`read`
raised NotFoundError), or the exception reading it raised, for the caller to raise or report
in the order of its own names, as it did when every read was its own call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from functools import partial

from activities.iac.cache import IacCache
from activities.iac.heartbeat import heartbeating
from interfaces.errors import NotFoundError, ProviderError
from interfaces.iac import ResourceOutput, ResourceRef, ResourceState
from interfaces.iac_protocols import BulkReader, ResourceDriver
from providers.shared_reads import refresh_scope
from workflows.iac.models import StackTarget

# Refs per read_many call: bounds what one call holds in memory and how long it runs, and
# lets the chunks of one type be read in parallel (under EC2's limit of 200 values per filter;
# the drivers split further where their APIs take fewer ids per request). 100 rather than 200:
# twice the chunks in flight, so the worker parses one answer while the cloud renders the
# next (on moto, 1,000 resources, 2 busy cores: the reads took about a fifth less time than
# at 200, for 8 more calls; bench/README.md "Refresh"). Listings beyond the chunk
# are shared by all of a type's chunks (providers.shared_reads), so they do not multiply.
BULK_CHUNK = 100
READ_THREADS = 16

Live = ResourceOutput | None | Exception


def ref_of(state: ResourceState) -> ResourceRef:
    return ResourceRef(name=state.name, type=state.type, provider_id=state.provider_id)


def read_live(
    cache: IacCache,
    target: StackTarget,
    states: Sequence[ResourceState],
    chunk_size: int = BULK_CHUNK,
) -> dict[str, Live]:
    """name -> the live resource of each state, None if gone, or the exception raised.

    The chunks share what their drivers list beyond their own refs (providers.shared_reads):
    a type's chunks list the stack's secrets or tagged resources once, not once each."""
    found: dict[str, Live] = {}
    groups: dict[tuple[str, str], list[ResourceState]] = {}
    for state in states:
        groups.setdefault((state.provider, state.type), []).append(state)
    tasks: list[Callable[[], dict[str, Live]]] = []
    for (provider, resource_type), members in groups.items():
        try:
            driver = cache.provider(target, provider).resource_driver(resource_type)
        except Exception as error:  # an unknown provider or type: each member reports it
            found.update({state.name: error for state in members})
            continue
        if isinstance(driver, BulkReader) and _bulk_allowed(target, provider):
            for start in range(0, len(members), chunk_size):
                chunk = members[start : start + chunk_size]
                tasks.append(partial(read_chunk, driver, chunk))
        else:
            tasks += [partial(_read_each, driver, [state]) for state in members]
    if not tasks:
        return found
    with heartbeating(), refresh_scope(), ThreadPoolExecutor(min(READ_THREADS, len(tasks))) as pool:
        # Each task in its own copy of this context, made here: a pool thread's own context
        # does not hold the refresh scope.
        runs = [partial(copy_context().run, task) for task in tasks]
        for part in pool.map(lambda run: run(), runs):
            found.update(part)
    return found


def _bulk_allowed(target: StackTarget, provider: str) -> bool:
    block = target.providers.get(provider)
    return not isinstance(block, Mapping) or block.get("bulk_read", True) is not False


def read_chunk(driver: ResourceDriver, chunk: Sequence[ResourceState]) -> dict[str, Live]:
    """One read_many call, answered for every state of the chunk."""
    refs = [ref_of(state) for state in chunk]
    try:
        answers: dict[str, Live] = dict(driver.read_many(refs))  # type: ignore[attr-defined]
    except ProviderError as error:
        if error.retryable:  # throttled or unavailable: the activity's retry reads again
            return {ref.name: error for ref in refs}
        # Refused as a whole (a list permission, a filter the API rejects): one at a time,
        # so each resource gets its own answer and error, as without bulk reads.
        return _read_each(driver, chunk)
    # A name the driver left out is read on its own: taking it for gone would plan a create
    # of a resource that exists.
    missing = [state for state in chunk if state.name not in answers]
    answers.update(_read_each(driver, missing))
    return {state.name: answers[state.name] for state in chunk}


def _read_each(driver: ResourceDriver, states: Sequence[ResourceState]) -> dict[str, Live]:
    found: dict[str, Live] = {}
    for state in states:
        try:
            found[state.name] = driver.read(ref_of(state))
        except NotFoundError:
            found[state.name] = None
        except Exception as error:  # raised or reported by the caller, in its order
            found[state.name] = error
    return found

