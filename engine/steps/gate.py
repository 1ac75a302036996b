"""step.gate in its automated and scheduled modes: a verdict, never a wait.

The spec's manual gate only reports "awaiting approval" and goes on; application files get a
real durable approval instead (engine.appfile.pipelines turns `type: manual` into
step.wait_for_approval), so this step refuses `manual` when written by hand.
The output is the spec's `gate_result` {passed, type, reason}; a gate that does not pass does
not fail the run, as in the spec (route on `gate_result.passed`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.step_registry import StepCall, StepType
from engine.steps.config import StepConfig
from engine.steps.paths import lookup
from interfaces import StepResult

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class GateWindow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weekdays: list[str] = Field(default_factory=list)
    start_hour: int = Field(0, ge=0, le=24)
    end_hour: int = Field(0, ge=0, le=24)

    @field_validator("weekdays")
    @classmethod
    def _days(cls, days: list[str]) -> list[str]:
        for day in days:
            if not any(full.startswith(day.lower()) and len(day) >= 3 for full in _WEEKDAYS):
                raise ValueError(f"{day!r} is not a weekday")
        return days

    def contains(self, moment: datetime) -> bool:
        if self.weekdays and not any(
            _WEEKDAYS[moment.weekday()].startswith(d.lower()) for d in self.weekdays
        ):
            return False
        hour = moment.hour
        if self.start_hour <= self.end_hour:
            return self.start_hour <= hour < self.end_hour
        return hour >= self.start_hour or hour < self.end_hour  # wraps midnight


class GateConfig(StepConfig):
    type: Literal["automated", "scheduled", "manual"]
    # "key.path == value", compared as text against the state, as the spec does.
    auto_approve_conditions: list[str] = Field(default_factory=list)
    schedule: GateWindow | None = None
    approvers: list[str] = Field(default_factory=list)
    timeout: str | None = None

    @field_validator("type")
    @classmethod
    def _not_manual(cls, value: str) -> str:
        if value == "manual":
            raise ValueError("a manual gate is a step.wait_for_approval (application files "
                             "are converted to one); write that step instead")
        return value


def _condition_met(condition: str, state: dict[str, Any]) -> bool:
    path, sep, expected = condition.partition("==")
    if not sep:
        return False
    found, value = lookup(state, path.strip())
    if not found or value is None:
        return False
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return text == expected.strip()


def _verdict(passed: bool, kind: str, reason: str) -> StepResult:
    return StepResult(output={"gate_result": {"passed": passed, "type": kind, "reason": reason}})


async def execute(config: GateConfig, call: StepCall) -> StepResult:
    if config.type == "automated":
        for condition in config.auto_approve_conditions:
            if not _condition_met(condition, call.context.current):
                return _verdict(False, "automated", f"condition not met: {condition}")
        return _verdict(True, "automated", "all conditions met")
    if config.schedule is None:
        return _verdict(True, "scheduled", "no schedule window configured, passing by default")
    # Read once, in the step's (local) activity: its result is recorded, so replay agrees.
    now = datetime.now(UTC)
    if config.schedule.contains(now):
        return _verdict(True, "scheduled", "current time is within the scheduled window")
    return _verdict(False, "scheduled",
                    f"current time {now.isoformat(timespec='seconds')} is outside the "
                    "scheduled window")


GATE = StepType(
    name="step.gate",
    config_model=GateConfig,
    execute=execute,
    description="An automated (conditions) or scheduled (time window) gate's verdict.",
)
