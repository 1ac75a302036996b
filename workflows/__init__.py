"""Temporal workflow classes. Deterministic: every I/O goes through activities."""
