"""The package's own errors: each one means retrying cannot help.

A bad setting, an unknown location, a batch identifier already taken by other records: the same
run would fail the same way again, so the operators fail such a task at once (no retries), while
ConnectWise's transient faults (``ConnectWiseError``) keep being retried.
"""

from __future__ import annotations


class CwglError(Exception):
    """Base of this package's permanent errors."""


class SettingError(CwglError, ValueError):
    """A setting is invalid or names something that does not exist. ``setting`` names it."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        super().__init__(f"{setting}: {problem}")
