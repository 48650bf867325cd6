"""TFRecord files written without TensorFlow (docs/records.md).

A record is framed as tf.io.TFRecordWriter frames it (uncompressed): the data length as a
little-endian uint64, the masked CRC-32C of those 8 bytes (uint32), the data, the masked
CRC-32C of the data (uint32). The same records give the same bytes as TensorFlow's writer
(tests/test_records.py checks this), so the converters write shards without loading
TensorFlow.
"""

import struct

import google_crc32c

_MASK_DELTA = 0xA282EAD8
_LENGTH = struct.Struct('<Q')
_CRC = struct.Struct('<I')


def masked_crc32c(data: bytes) -> int:
  """CRC-32C of `data`, rotated right by 15 bits plus a constant (TFRecord's masking)."""
  crc = google_crc32c.value(data)
  return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


class TFRecordWriter:
  """Appends records to a new file at `path`; a context manager, like tf.io.TFRecordWriter."""

  def __init__(self, path: str):
    self._file = open(path, 'wb')

  def write(self, record: bytes) -> None:
    length = _LENGTH.pack(len(record))
    self._file.write(length)
    self._file.write(_CRC.pack(masked_crc32c(length)))
    self._file.write(record)
    self._file.write(_CRC.pack(masked_crc32c(record)))

  def close(self) -> None:
    self._file.close()

  def __enter__(self) -> 'TFRecordWriter':
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()
