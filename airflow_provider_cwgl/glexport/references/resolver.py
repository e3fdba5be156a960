"""``ReferenceResolver``: References To Fetch for one export, from the paths asked to the records written."""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any

from typing_extensions import TypedDict

from airflow_provider_cwgl.connectwise import ConnectWiseClient
from airflow_provider_cwgl.errors import SettingError
from airflow_provider_cwgl.glexport.references.fetch import FetchStats, RecordCache, RecordFetcher
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
    # Items a path found nothing on, by path (the field absent or not a reference).
    skipped_by_path: dict[str, int]


class ReferenceResolver:
    """Plans the paths (``plan``), collects and fetches the records they reach (``fetcher``) and
    hands them to the XML writer (``placer``; the resolver is the writer's ``ReferenceRecords``)."""

    def __init__(self, client: ConnectWiseClient, paths: Iterable[str], *, concurrency: int = 8) -> None:
        if concurrency < 1:
            raise SettingError("reference_concurrency", f"expected an integer >= 1, got {concurrency!r}")
        self.plan = ReferencePlan(paths)
        self.cache = RecordCache()
        self.fetcher = RecordFetcher(client, self.plan, self.cache, concurrency)
        self.placer = RecordPlacer(self.plan, self.cache, self.fetcher.fallbacks)

    @property
    def client(self) -> ConnectWiseClient:
        return self.fetcher.client

    @property
    def stats(self) -> FetchStats:
        return self.fetcher.stats

    def collect(self, source: IO[bytes]) -> None:
        """Note the records wanted by every item of the export in ``source``."""
        self.fetcher.collect(source)

    def collect_item(self, collection: str, item: dict[str, Any]) -> None:
        """Note the records one root item wants (the exporter calls this while it checks the body)."""
        self.fetcher.collect_item(collection, item)

    def fetch(self) -> None:
        """Fetch everything collected, one round per nesting depth."""
        self.fetcher.fetch()

    @property
    def anchor_paths(self) -> set[tuple[str, ...]]:
        """The writer's hint: records are added only to objects at these paths and their fields."""
        return self.placer.anchor_paths

    def extra_children(
        self, path: tuple[str, ...], value: dict[str, Any], parent: dict[str, Any] | None
    ) -> list[tuple[str, Any]]:
        """Records for the object at ``path`` (see ``xml_writer.ReferenceRecords``)."""
        return self.placer.extra_children(path, value, parent)

    def summary(self) -> ReferencesSummary:
        stats = self.fetcher.stats
        return {
            "paths": list(self.plan.paths),
            "rounds": stats.rounds,
            "requests": stats.requests,
            "records": self.cache.found(),
            "missing": len(stats.missing),
            "skipped": stats.skipped,
            "skipped_by_path": dict(sorted(stats.skipped_by_path.items())),
        }
