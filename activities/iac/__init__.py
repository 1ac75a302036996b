"""Temporal activities of the IaC engine: planning, resource actions, inspection, locks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio.client import Client

from activities.iac.stack_activities import IacActivities


def iac_activities(client: Client | None = None) -> list[Callable[..., Any]]:
    """Every IaC activity, for `Worker(activities=...)` with a ThreadPoolExecutor.

    Pass the worker's client so a stack lock left by a terminated run is taken over at once.
    """
    return IacActivities(client).all()


__all__ = ["IacActivities", "iac_activities"]
