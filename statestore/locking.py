"""The lock rules both backends share, so SQLite and PostgreSQL cannot drift apart on them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from interfaces.errors import StateLockedError


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with milliseconds: what users read in errors and `wfctl infra unlock`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def held(holder: str | None, expires_at: datetime | None, now: datetime) -> bool:
    return holder is not None and expires_at is not None and expires_at > now


def new_expiry(
    stack: str,
    owner: str,
    holder: str | None,
    expires_at: datetime | None,
    now: datetime,
    ttl_seconds: float,
) -> tuple[bool, datetime]:
    """Decide a lock request: (keep the holder's acquired_at, new expiry) or raise.

    A retried activity asks again with the same owner, so that only extends the expiry;
    an expired lock belongs to nobody and is taken over.
    """
    if ttl_seconds <= 0:
        raise ValueError(f"lock ttl must be positive, got {ttl_seconds}")
    if held(holder, expires_at, now) and holder != owner:
        assert holder is not None and expires_at is not None
        raise StateLockedError(stack, holder, iso(expires_at))
    return held(holder, expires_at, now), now + timedelta(seconds=ttl_seconds)


def lock_info(
    holder: str | None, acquired_at: datetime | None, expires_at: datetime | None, now: datetime
) -> dict[str, str] | None:
    if not held(holder, expires_at, now):
        return None
    assert holder is not None and acquired_at is not None and expires_at is not None
    return {"owner": holder, "acquired_at": iso(acquired_at), "expires_at": iso(expires_at)}
