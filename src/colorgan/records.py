"""The prepared-data format: one photo per tf.train.Example in sharded TFRecord files.

Written here without TensorFlow (preprocess must not pay its import, nor need it on a Dask
worker); read by tf.data in colorgan.data. An Example is a tiny protobuf and a TFRecord
frame is a length and two CRC32C checksums, so both are encoded by hand, byte for byte the
same on every machine.
"""

from __future__ import annotations

import struct
from functools import cache
from pathlib import Path

import numpy as np

# Feature keys of every record: encoded image bytes (JPEG for train, PNG for val/test),
# and its size, which lets the reader pick a crop before decoding.
IMAGE, HEIGHT, WIDTH = "image", "height", "width"
SHARD_GLOB = "shard-*.tfrecord"

_CRC32C_POLY = 0x82F63B78  # Castagnoli, reflected: what TFRecord checksums use
_CHUNK = 64  # bytes per lane of the vectorised CRC below (fastest for ~100 KB records)


@cache
def _crc_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(_CRC32C_POLY), table >> 1)
    return table.astype(np.uint32)


def _advance(states: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Feed the byte columns of ``data`` (lanes, n) into one CRC state per lane."""
    table = _crc_table()
    for column in data.T:
        states = table[(states ^ column) & 0xFF] ^ (states >> 8)
    return states


@cache
def _skip_tables() -> list[list[int]]:
    """4 tables of 256: the linear map 'feed _CHUNK zero bytes', one per state byte."""
    basis = _advance(np.uint32(1) << np.arange(32, dtype=np.uint32), np.zeros((32, _CHUNK), "u1"))
    tables = np.zeros((4, 256), dtype=np.uint32)
    for bit in range(8):
        has_bit = (np.arange(256) >> bit & 1).astype(bool)
        for byte in range(4):
            tables[byte, has_bit] ^= basis[8 * byte + bit]
    return tables.tolist()  # plain ints: the chaining loop below indexes them one by one


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data``: whole chunks in parallel lanes, then chained by linearity."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    whole = len(buffer) // _CHUNK * _CHUNK
    lanes = _advance(np.zeros(whole // _CHUNK, np.uint32), buffer[:whole].reshape(-1, _CHUNK))
    skip0, skip1, skip2, skip3 = _skip_tables()
    state = 0xFFFFFFFF
    for lane in lanes.tolist():
        state = (
            skip0[state & 0xFF]
            ^ skip1[state >> 8 & 0xFF]
            ^ skip2[state >> 16 & 0xFF]
            ^ skip3[state >> 24]
            ^ lane
        )
    tail = _advance(np.array([state], np.uint32), buffer[whole:].reshape(1, -1))
    return int(tail[0]) ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> bytes:
    crc = crc32c(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_example(features: dict[str, bytes | int]) -> bytes:
    """A serialized tf.train.Example of bytes and non-negative int features, keys sorted."""
    entries = b""
    for key in sorted(features):
        value = features[key]
        if isinstance(value, bytes):
            feature = _field(1, _field(1, value))  # Feature.bytes_list.value
        else:
            feature = _field(3, _field(1, _varint(value)))  # Feature.int64_list, packed
        entries += _field(1, _field(1, key.encode()) + _field(2, feature))  # map entry
    return _field(1, entries)  # Example.features


def frame(record: bytes) -> bytes:
    """One TFRecord: length, its masked CRC, the data, the data's masked CRC."""
    length = struct.pack("<Q", len(record))
    return length + _masked_crc(length) + record + _masked_crc(record)


class ShardWriter:
    """Appends framed records to ``shard-00000.tfrecord``, ... of at most ``shard_size`` each."""

    def __init__(self, directory: Path, shard_size: int) -> None:
        self.directory = directory
        self.shard_size = shard_size
        self.count = 0
        self.bytes = 0
        self.shards = 0
        self._file = None
        directory.mkdir(parents=True, exist_ok=True)

    def add(self, framed: bytes) -> None:
        if self.count % self.shard_size == 0:
            self.close()
            self._file = (self.directory / f"shard-{self.shards:05d}.tfrecord").open("wb")
            self.shards += 1
        self._file.write(framed)
        self.count += 1
        self.bytes += len(framed)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
