"""Fetching: note the records the export's items refer to, then fetch them in as few requests as can be.

``collect`` notes every distinct record wanted (keys only); ``fetch`` asks for them in rounds, one
per nesting depth: every endpoint at once (bounded by ``concurrency``), each for many ids with
``conditions=id in (...)``, chunked so no URL exceeds ConnectWise's 2,000 characters.
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
import zlib
from collections import Counter, OrderedDict, defaultdict, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import quote_plus

from airflow_provider_cwgl.connectwise import ConnectWiseClient
from airflow_provider_cwgl.connectwise.client import MAX_PAGE_SIZE
from airflow_provider_cwgl.connectwise.conditions import condition_literal
from airflow_provider_cwgl.errors import ConnectWiseError, ReferenceValueTooLongError
from airflow_provider_cwgl.glexport import schema
from airflow_provider_cwgl.glexport.json_scan import iter_root
from airflow_provider_cwgl.glexport.references.keys import (
    RecordKey,
    SubCollectionOf,
    record_keys,
)
from airflow_provider_cwgl.glexport.references.plan import FIELD_ALIASES, Node, ReferencePlan

log = logging.getLogger(__name__)

MAX_URL_LENGTH = 2000
PROGRESS_SECONDS = 10.0  # a long round logs how far it got at most this often


class RecordCache:
    """Fetched records by key, kept pickled and zlib-compressed (about 1 KB a record instead of
    several as dicts): a large export can reference one record per transaction (its invoice).
    The most recently used ``hot`` records stay decoded, so a record used again and again (a
    company) is the same object each time and the writer reuses its XML.
    """

    def __init__(self, hot: int = 1024) -> None:
        self._packed: dict[RecordKey, bytes | None] = {}  # None: asked for, not found
        self._hot: OrderedDict[RecordKey, Any] = OrderedDict()
        self.hot_size = hot
        self.packed_bytes = 0

    def __contains__(self, key: RecordKey) -> bool:
        return key in self._packed

    def get(self, key: RecordKey) -> Any:
        value = self._hot.get(key)
        if value is not None:
            self._hot.move_to_end(key)
            return value
        packed = self._packed.get(key)
        if packed is None:
            return None
        value = pickle.loads(zlib.decompress(packed))
        self._hot[key] = value
        if len(self._hot) > self.hot_size:
            self._hot.popitem(last=False)
        return value

    def update(self, found: dict[RecordKey, Any]) -> None:
        for key, value in found.items():
            packed = None if value is None else zlib.compress(pickle.dumps(value, protocol=5), 1)
            self.packed_bytes += len(packed or b"") - len(self._packed.get(key) or b"")
            self._packed[key] = packed
            self._hot.pop(key, None)

    def found(self) -> int:
        return sum(1 for packed in self._packed.values() if packed is not None)


@dataclass(frozen=True)
class ListRequest:
    """One list request: ``path`` filtered by ``field in (...)`` the values of ``keys``, each as
    ``conditions`` writes it; with ``field`` None the whole list, stored under its one key."""

    path: str
    field: str | None
    keys: dict[str, RecordKey]


@dataclass
class FetchStats:
    requests: int = 0
    rounds: int = 0
    missing: set[RecordKey] = field(default_factory=set)
    skipped: int = 0
    skipped_by_path: Counter[str] = field(default_factory=Counter)
    fetchable_paths: set[str] = field(default_factory=set)


class RecordFetcher:
    """Collects the records an export's items want and fetches them into ``cache``."""

    def __init__(
        self, client: ConnectWiseClient, plan: ReferencePlan, cache: RecordCache, concurrency: int
    ) -> None:
        self.client = client
        self.plan = plan
        self.cache = cache
        self.concurrency = concurrency
        # A key not found -> the key to try instead (a transaction's invoice by number).
        self.fallbacks: dict[RecordKey, RecordKey] = {}
        self.stats = FetchStats()
        self._by_root: dict[str, list[tuple[tuple[str, ...], Node]]] = defaultdict(list)
        for (root, container), anchor in plan.anchors.items():
            self._by_root[root].append((container, anchor))
        self._pending: dict[RecordKey, None] = {}
        self._frontier: dict[tuple[int, RecordKey], tuple[Node, RecordKey]] = {}
        self._lock = threading.Lock()

    def collect(self, source: IO[bytes]) -> None:
        """Note the records wanted by every item of the export in ``source``."""
        if not self.plan.anchors:
            return
        for collection, item, is_item in iter_root(source):
            if is_item:
                self.collect_item(collection, item)

    def collect_item(self, collection: str, item: dict[str, Any]) -> None:
        """Note the records one root item wants (the exporter calls this while it checks the body)."""
        for container, anchor in self._by_root.get(schema.item_name(collection), ()):
            # ``item`` itself, or the lines of its ``detail``/``purchaseDetail``/... collection
            objects = item.get(container[0]) if container else [item]
            for obj in objects if isinstance(objects, list) else ():
                if isinstance(obj, dict):
                    for node in anchor.children.values():
                        self._want(node, obj)

    def _want(self, node: Node, obj: dict[str, Any]) -> None:
        keys = record_keys(node, obj, self.fallbacks)
        if keys is None:
            self.stats.skipped += 1
            self.stats.skipped_by_path[node.path] += 1
            log.debug(
                "No %s to fetch on %s %s: the data lacks it", node.path, type(obj).__name__, obj.get("id")
            )
            return
        if node.model is not None:
            self.stats.fetchable_paths.add(node.path)
        for key in keys:
            if key not in self.cache:
                self._pending[key] = None
            self._frontier[(id(node), key)] = (node, key)

    def _warn_absent_fields(self) -> None:
        """One warning per path whose field the API's GLExport model does not have (as a reference)
        and which no item carried: asked for, but there is nothing to fetch it from."""
        version = self.client.settings.api_version or schema.API_VERSION
        lacking = self.stats.skipped_by_path.keys() - self.stats.fetchable_paths  # no item carried them
        for node in self.plan.steps():
            if node.model is None or node.path not in lacking:
                continue
            aliases = FIELD_ALIASES.get(node.source, (node.source,))
            if any(getattr(schema.field(node.model, alias), "model", None) for alias in aliases):
                continue  # the model has it: items without one simply have none
            log.warning(
                "References To Fetch: %s: field not present in API %s data (%s has no %r reference);"
                " skipped on %d item(s)",
                node.path,
                version,
                node.model,
                node.source,
                self.stats.skipped_by_path[node.path],
            )

    def fetch(self) -> None:
        """Fetch everything collected, one round per nesting depth."""
        self._warn_absent_fields()
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="cw-refs") as pool:
            while self._pending:
                self.stats.rounds += 1
                n, pending, self._pending = self.stats.rounds, list(self._pending), {}
                units = self.plan_requests(pending)
                log.info("References round %d: %d records in %d requests", n, len(pending), len(units))
                # At most two results per worker wait to be stored, so the decoded results of a
                # large round never pile up in memory.
                window: deque[Future[dict[RecordKey, Any]]] = deque()
                done, last = 0, time.monotonic()
                for unit in [*units, None]:
                    if unit is not None:
                        window.append(pool.submit(self._run_request, unit))
                    while window and (unit is None or len(window) >= 2 * self.concurrency):
                        self.cache.update(window.popleft().result())
                        done += 1
                        if time.monotonic() - last >= PROGRESS_SECONDS:
                            last = time.monotonic()
                            log.info("References round %d: %d of %d requests done", n, done, len(units))
                self.cache.update({key: None for key in pending if key not in self.cache})  # not found
                mib = self.cache.packed_bytes / 2**20
                log.info(
                    "References round %d done: %d records kept so far (%.1f MiB compressed)",
                    n,
                    self.cache.found(),
                    mib,
                )
                self._advance()
        if self.stats.missing:
            sample = ", ".join(sorted(key.describe() for key in self.stats.missing)[:10])
            log.warning(
                "%d referenced record(s) no longer exist in ConnectWise and were left as plain references: %s",
                len(self.stats.missing),
                sample,
            )

    def _advance(self) -> None:
        """After a round: queue fallbacks for what was missing and the next depth's records."""
        frontier, self._frontier = list(self._frontier.values()), {}
        for node, key in frontier:
            record = self.cache.get(key)
            if record is None and key in self.fallbacks:
                fallback = self.fallbacks[key]
                if fallback not in self.cache:
                    self._pending[fallback] = None
                self._frontier[(id(node), fallback)] = (node, fallback)
                continue
            if record is None:
                self.stats.missing.add(key)
                continue
            # A sub-collection's record is its list of items; its children apply to each item.
            for obj in record if isinstance(record, list) else [record]:
                for child in node.children.values():
                    self._want(child, obj)

    def plan_requests(self, keys: list[RecordKey]) -> list[ListRequest]:
        """Group keys into requests: one per sub-collection parent, else ``field in (...)`` chunks."""
        by_list: dict[tuple[str, str], dict[str, RecordKey]] = defaultdict(dict)
        requests: list[ListRequest] = []
        for key in keys:
            if isinstance(key, SubCollectionOf):
                requests.append(ListRequest(key.list_path, None, {"": key}))
                continue
            by_list[(key.list_path, key.match_field)][condition_literal(key.match_value)] = key
        for (path, field_name), by_value in by_list.items():
            for chunk in chunk_values(self.client.base_url + path, field_name, list(by_value)):
                requests.append(ListRequest(path, field_name, {value: by_value[value] for value in chunk}))
        return requests

    def _run_request(self, request: ListRequest) -> dict[RecordKey, Any]:
        found: dict[RecordKey, Any] = {}
        try:
            if request.field is None:  # a sub-collection listed per parent
                found[request.keys[""]] = self._list(request.path, None)
                return found
            wanted = request.keys
            conditions = f"{request.field} in ({','.join(wanted)})"
            for record in self._list(request.path, conditions):
                key = wanted.get(condition_literal(record.get(request.field)))
                if key is not None and key not in found:
                    found[key] = record
        except ConnectWiseError as exc:
            if exc.status != 404:  # a parent that no longer exists: its children are missing
                raise
        return found

    def _list(self, path: str, conditions: str | None) -> list[dict[str, Any]]:
        records = list(self.client.list(path, conditions=conditions, page_size=MAX_PAGE_SIZE))
        with self._lock:
            self.stats.requests += max(1, -(-len(records) // MAX_PAGE_SIZE))
        return records


def chunk_values(
    url: str, field_name: str, values: list[str], max_length: int = MAX_URL_LENGTH
) -> Iterator[list[str]]:
    """Split ``values`` into ``field in (...)`` lists whose request URL stays under ``max_length``.

    The URL is ``{url}?pageSize=1000&page=1&conditions=...`` form-encoded, as the client sends it.
    """
    prefix = (
        len(url)
        + len(f"?pageSize={MAX_PAGE_SIZE}&page=1&conditions=")
        + len(quote_plus(f"{field_name} in ()"))
    )
    chunk: list[str] = []
    length = prefix
    for value in sorted(set(values), key=lambda v: (len(v), v)):
        cost = len(quote_plus(value)) + (len(quote_plus(",")) if chunk else 0)
        if chunk and length + cost >= max_length:
            yield chunk
            chunk, length = [], prefix
            cost = len(quote_plus(value))
        if prefix + cost >= max_length:
            raise ReferenceValueTooLongError(f"{value!r} alone makes a URL over {max_length} characters")
        chunk.append(value)
        length += cost
    if chunk:
        yield chunk
