"""The prepared-data format: one photo per tf.train.Example in sharded TFRecord files.

Written here without TensorFlow (preprocess must not pay its import, nor need it on a Dask
worker); read by tf.data in colorgan.data.dataset. An Example is a tiny protobuf and a TFRecord
frame is a length and two CRC32C checksums (google-crc32c's C implementation), so both are
encoded here, byte for byte the same on every machine.
"""

from __future__ import annotations

import struct
from pathlib import Path

import google_crc32c

# Feature keys of every record: encoded image bytes (JPEG for train, PNG for val/test),
# and its size, which lets the reader pick a crop before decoding.
IMAGE, HEIGHT, WIDTH = "image", "height", "width"
SHARD_GLOB = "shard-*.tfrecord"


def _masked_crc(data: bytes) -> bytes:
    crc = google_crc32c.value(data)  # CRC-32C (Castagnoli), what TFRecord frames carry
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
