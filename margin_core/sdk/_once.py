"""Log each kind of SDK failure once: a broken store must not flood the host application's logs."""

from __future__ import annotations

import logging
import threading


class LogOnce:
    """Warn the first time a key fails, then log that key at DEBUG until `reset`."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def warning(self, key: str, message: str, *args: object, exc_info: bool = True) -> None:
        """Log `message` as a warning if `key` has not failed since the last reset, else at DEBUG."""
        with self._lock:
            first = key not in self._seen
            self._seen.add(key)
        level = logging.WARNING if first else logging.DEBUG
        self._logger.log(level, message, *args, exc_info=exc_info)

    def reset(self, key: str) -> bool:
        """Forget that `key` failed, so its next failure warns again; True if it had failed."""
        with self._lock:
            if key in self._seen:
                self._seen.discard(key)
                return True
            return False
