"""Request-level capture for LLM calls (rules §6): `Tracker().wrap(client)`, `context(...)`, `record(...)`."""

from margin_core.sdk.context import CaptureContext, Scope, current_scope
from margin_core.sdk.tracker import Tracker

__all__ = ["CaptureContext", "Scope", "Tracker", "current_scope"]
