"""Errors of margin_core, each with a message meant for the user.

MarginError
├── ImportFileError     a canonical CSV rejected whole (line number and reason)
├── DemoWorkspaceError  a sync or import into the demo workspace
├── SchemaError         a frame without the columns an engine function needs
└── ConfigError         a missing key, a bad URL or setting
"""

from __future__ import annotations


class MarginError(Exception):
    """Base of margin_core's errors."""


class ImportFileError(MarginError):
    """A CSV file was rejected; nothing of it was written."""

    def __init__(self, message: str, *, path: str = "", line: int | None = None) -> None:
        where = f"{path}: line {line}: " if line is not None else (f"{path}: " if path else "")
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line


class DemoWorkspaceError(MarginError):
    """The store holds the demo workspace; real data is never mixed into it (rules §8)."""


class SchemaError(MarginError):
    """A frame is missing columns an engine function needs."""


class ConfigError(MarginError):
    """Configuration is missing or wrong."""
