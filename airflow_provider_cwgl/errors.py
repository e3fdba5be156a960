"""The package's errors: every error it raises on purpose derives from ``CwglError``.

``permanent`` says whether retrying can help. A bad setting, an unknown location, a batch
identifier already taken by other records: the same run would fail the same way again, so the
operators fail such a task at once (no retries). ConnectWise's faults (``ConnectWiseError``) are
not permanent: they keep the task's retries.
"""

from __future__ import annotations


class CwglError(Exception):
    """Base of this package's errors; ``permanent`` ones fail a task without retries."""

    permanent: bool = True


class SettingError(CwglError, ValueError):
    """A setting is invalid or names something that does not exist. ``setting`` names it."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting}: {problem}")
