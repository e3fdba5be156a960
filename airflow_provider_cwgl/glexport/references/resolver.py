"""``ReferenceResolver``: References To Fetch for one export, from the paths asked to the records written."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from typing_extensions import TypedDict

from airflow_provider_cwgl.connectwise import ConnectWiseClient
from airflow_provider_cwgl.errors import SettingError
from airflow_provider_cwgl.glexport.references.fetch import RecordCache, RecordFetcher
from airflow_provider_cwgl.glexport.references.plan import ReferencePlan
from airflow_provider_cwgl.glexport.references.write import RecordPlacer


class ReferencesSummary(TypedDict):
    """What References To Fetch did, for the export's summary."""

    paths: list[str]
    rounds: int
    requests: int
    records: int
    missing: int
    skipped: int
    skipped_by_path: dict[str, int]  # items a path found nothing on (field absent or not a reference)


class ReferenceResolver(RecordFetcher):
    """Plans the paths, collects and fetches the records they reach (``RecordFetcher``) and is the
    XML writer's ``ReferenceRecords`` through a ``RecordPlacer``."""

    def __init__(self, client: ConnectWiseClient, paths: Iterable[str], *, concurrency: int = 8) -> None:
        if concurrency < 1:
            raise SettingError("reference_concurrency", f"expected an integer >= 1, got {concurrency!r}")
        super().__init__(client, ReferencePlan(paths), RecordCache(), concurrency)
        self.placer = RecordPlacer(self.plan, self.cache, self.fallbacks)
        # The writer's hint: records are added only to objects at these paths and their fields.
        self.anchor_paths = self.placer.anchor_paths

    def extra_children(
        self, path: tuple[str, ...], value: dict[str, Any], parent: dict[str, Any] | None
    ) -> list[tuple[str, Any]]:
        return self.placer.extra_children(path, value, parent)

    def summary(self) -> ReferencesSummary:
        stats = self.stats
        return {
            "paths": list(self.plan.paths),
            "rounds": stats.rounds,
            "requests": stats.requests,
            "records": self.cache.found(),
            "missing": len(stats.missing),
            "skipped": stats.skipped,
            "skipped_by_path": dict(sorted(stats.skipped_by_path.items())),
        }
