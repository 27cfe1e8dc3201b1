"""Build Prometheus remote-write (v1) requests without protobuf or snappy libraries.

The wire format is small: a `prometheus.WriteRequest` protobuf, snappy block-compressed.
Snappy's block format allows a stream made only of literal chunks, which every
decoder accepts; it just does not shrink the payload. That keeps the lab, its tests
and the benchmarks free of native dependencies.
"""

from __future__ import annotations

import struct
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping

HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}

_LENGTH_DELIMITED = 2
_FIXED64 = 1
_VARINT = 0


def _varint(value: int) -> bytes:
    if value < 0:  # int64 negatives are ten-byte two's complement varints
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _tag(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _bytes_field(field: int, payload: bytes) -> bytes:
    return _tag(field, _LENGTH_DELIMITED) + _varint(len(payload)) + payload


def encode_series(labels: Mapping[str, str], samples: Iterable[tuple[float, int]]) -> bytes:
    """One `TimeSeries`: labels sorted by name, samples as (value, timestamp in ms)."""
    body = bytearray()
    for name in sorted(labels):
        label = _bytes_field(1, name.encode()) + _bytes_field(2, str(labels[name]).encode())
        body += _bytes_field(1, label)
    for value, timestamp_ms in samples:
        sample = _tag(1, _FIXED64) + struct.pack("<d", float(value))
        sample += _tag(2, _VARINT) + _varint(int(timestamp_ms))
        body += _bytes_field(2, sample)
    return bytes(body)


def encode_write_request(series: Iterable[tuple[Mapping[str, str], Iterable[tuple[float, int]]]]) -> bytes:
    """A `WriteRequest` holding the given (labels, samples) pairs."""
    return b"".join(_bytes_field(1, encode_series(labels, samples)) for labels, samples in series)


def snappy_literal_compress(data: bytes) -> bytes:
    """Snappy block format made of literal chunks only (valid, uncompressed)."""
    out = bytearray(_varint(len(data)))
    for start in range(0, len(data), 65536):
        chunk = data[start : start + 65536]
        size = len(chunk) - 1
        if size < 60:
            out.append(size << 2)
        else:  # tag 61: length-1 follows in two little-endian bytes
            out.append(61 << 2)
            out += struct.pack("<H", size)
        out += chunk
    return bytes(out)


def build_body(series: Iterable[tuple[Mapping[str, str], Iterable[tuple[float, int]]]]) -> bytes:
    return snappy_literal_compress(encode_write_request(series))


def now_ms() -> int:
    return int(time.time() * 1000)


def push(
    url: str,
    series: Iterable[tuple[Mapping[str, str], Iterable[tuple[float, int]]]],
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    """POST a write request; returns (HTTP status, body). Errors are returned, not raised."""
    request = urllib.request.Request(
        url, data=build_body(series), method="POST", headers={**HEADERS, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
