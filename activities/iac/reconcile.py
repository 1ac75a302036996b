"""After an action was cancelled mid-call: read the cloud, record what exists.

A create stopped half-way may have made its resource or not; an update may have changed
some of it; a delete may have finished. The state must say what the cloud holds before the
run ends, so that the next plan shows exactly the work that is left: a made resource stays
a pending entry, now with its cloud id and outputs (the next apply adopts it), one never made
loses its pending entry, a deleted one loses its entry, an updated one gets its live outputs.
"""

from __future__ import annotations

from datetime import UTC, datetime

from activities.iac.actions import located_ref
from activities.iac.cache import IacCache
from interfaces.errors import NotFoundError
from workflows.iac.models import ActionRequest, Reconciled


def reconcile_action(cache: IacCache, request: ActionRequest) -> Reconciled:
    store = cache.store(request.target)
    driver = cache.provider(request.target, request.provider).resource_driver(request.type)
    state = store.get_resource(request.name)
    if state is None:
        return Reconciled(name=request.name, exists=False)
    ref = located_ref(driver, state)
    try:
        output = driver.read(ref) if ref.provider_id else None
    except NotFoundError:
        output = None
    if output is None:
        store.delete_resource(request.name)
        return Reconciled(name=request.name, exists=False, pending=state.pending)
    store.save_resource(
        state.model_copy(
            update={
                "provider_id": output.provider_id,
                "outputs": output.outputs,
                "sensitive": list(output.sensitive),
                "updated_at": datetime.now(UTC),
            }
        )
    )
    return Reconciled(
        name=request.name, exists=True, provider_id=output.provider_id, pending=state.pending
    )
