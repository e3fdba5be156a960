"""A response body read in bounded steps: decompressed a chunk at a time, capped in size, and
checked against the request's deadline between chunks."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import IO

import httpx

from airflow_provider_cwgl.connectwise.transport import DeadlineExceeded, past_deadline

CHUNK = 1 << 16
_DECODERS = {"gzip", "x-gzip", "deflate"}


class TooLarge(Exception):
    """A body decompressed past the allowed size (internal: the client reports it)."""


def _inflate(chunks: Iterator[bytes], encoding: str) -> Iterator[bytes]:
    """Decompress gzip or deflate in steps of at most ``CHUNK`` bytes, so a small body that
    inflates enormously (a decompression bomb) never sits in memory whole."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16 if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS)
    first = True
    for data in chunks:
        while True:
            try:
                out = inflater.decompress(data, CHUNK)
            except zlib.error:
                if not (first and encoding == "deflate"):
                    raise
                # Some servers send raw deflate without the zlib header.
                inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                out = inflater.decompress(data, CHUNK)
            first = False
            data = inflater.unconsumed_tail
            if out:
                yield out
            if inflater.eof:
                return
            # A full step may leave output pending for input already taken: ask again.
            if not data and len(out) < CHUNK:
                break


def decoded(response: httpx.Response) -> Iterator[bytes]:
    """The body's bytes with its ``Content-Encoding`` undone (gzip, deflate, or several of them)."""
    if response.is_stream_consumed:  # built with its content (a test transport): httpx decoded it already
        return iter((response.content,))
    header = response.headers.get("Content-Encoding", "")
    encodings = [e.strip().lower() for e in header.split(",") if e.strip().lower() not in ("", "identity")]
    if any(e not in _DECODERS for e in encodings):
        raise ValueError(f"unsupported Content-Encoding {header!r} (we ask for gzip or deflate)")
    chunks: Iterator[bytes] = response.iter_raw(CHUNK)
    for encoding in reversed(encodings):
        chunks = _inflate(chunks, encoding)
    return chunks


def copy_body(response: httpx.Response, sink: IO[bytes], limit: int, *, truncate: bool = False) -> int:
    """Copy the decoded body to ``sink``: at most ``limit`` bytes (more is ``TooLarge``, or with
    ``truncate`` silently left unread), checking the request's deadline between chunks."""
    size = 0
    for chunk in decoded(response):
        if past_deadline():
            raise DeadlineExceeded()
        if size + len(chunk) > limit:
            if truncate:
                sink.write(chunk[: limit - size])
                return limit
            raise TooLarge()
        sink.write(chunk)
        size += len(chunk)
    return size
