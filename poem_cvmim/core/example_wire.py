"""tf.train.Example records encoded without TensorFlow (docs/records.md).

Converter workers build records in processes that never import TensorFlow (importing it costs
seconds and hundreds of MB per process). An `Example` takes features with `put(key, kind,
values)`, encodes each as its map entry at once, and `serialize()` joins the entries into the
protobuf wire format of `tensorflow.Example`:

  Example  { Features features = 1; }
  Features { map<string, Feature> feature = 1; }   entry: { string key = 1; Feature value = 2; }
  Feature  { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
                          Int64List int64_list = 3; } }
  BytesList { repeated bytes value = 1; }  FloatList { repeated float value = 1 [packed]; }
  Int64List { repeated int64 value = 1 [packed]; }

with the map entries in sorted key order: the bytes equal those of the same tf.train.Example
serialised with `deterministic=True` (tests/test_records.py checks this against TensorFlow).
"""

import functools
from typing import Dict, Iterable, Sequence

import numpy as np

from poem_cvmim.core import errors

BYTES, FLOAT, INT64 = 'bytes', 'float', 'int64'
# Field tag bytes: (field number << 3) | wire type 2 (length-delimited).
_TAG_1, _TAG_2, _TAG_3 = b'\x0a', b'\x12', b'\x1a'
_FEATURE_TAGS = {BYTES: _TAG_1, FLOAT: _TAG_2, INT64: _TAG_3}
_SMALL_VARINTS = [bytes([n]) for n in range(128)]


def varint(value: int) -> bytes:
  """Base-128 varint of a non-negative integer below 2**64."""
  if value < 128:
    return _SMALL_VARINTS[value]
  if value < 16384:
    return bytes(((value & 0x7F) | 0x80, value >> 7))
  out = bytearray()
  while value >= 128:
    out.append((value & 0x7F) | 0x80)
    value >>= 7
  out.append(value)
  return bytes(out)


def _length_delimited(tag: bytes, body: bytes) -> bytes:
  return tag + varint(len(body)) + body


def varints(values) -> bytes:
  """The varints of int64 values, concatenated; negative values take ten bytes (their
  two's complement), as in protobuf."""
  values = np.asarray(values, np.int64).ravel().view(np.uint64)
  if not values.size:
    return b''
  if values.min() == values.max():  # such as a sequence's image sizes
    return varint(int(values[0])) * values.size
  width = max(1, -(-int(values.max()).bit_length() // 7))  # 7-bit groups of the largest
  groups = ((values[:, np.newaxis] >> (np.arange(width, dtype=np.uint64) * np.uint64(7)))
            & np.uint64(0x7F)).astype(np.uint8)
  # A value takes its groups up to its highest non-zero one (at least one); every group but
  # its last carries the continuation bit.
  nonzero = groups != 0
  num_bytes = np.where(nonzero.any(axis=1), width - np.argmax(nonzero[:, ::-1], axis=1), 1)
  position = np.arange(width)
  groups |= np.where(position < (num_bytes - 1)[:, np.newaxis], 0x80, 0).astype(np.uint8)
  return groups[position < num_bytes[:, np.newaxis]].tobytes()


def int64_list(values: Iterable[int]) -> bytes:
  """Int64List body of integer values."""
  data = varints(values if isinstance(values, np.ndarray) else list(values))
  return _length_delimited(_TAG_1, data) if data else b''


def bytes_list(values: Iterable[bytes]) -> bytes:
  return b''.join(_length_delimited(_TAG_1, bytes(v)) for v in values)


_LIST_ENCODERS = {BYTES: bytes_list, INT64: int64_list}  # floats: Example.put_floats


def _entry(key: str, kind: str, body: bytes) -> bytes:
  """The map entry of feature `key` whose list body is `body`."""
  feature = _length_delimited(_FEATURE_TAGS[kind], body)
  return _length_delimited(_TAG_1, _length_delimited(_TAG_1, key.encode('utf-8'))
                           + _length_delimited(_TAG_2, feature))


@functools.lru_cache(maxsize=16384)
def _float_entry_prefix(key: str, count: int) -> bytes:
  """Everything of a float feature's map entry before its 4 * count data bytes (a packed
  FloatList body: tag, length, little-endian float32s; nothing for no values): constant for a
  key and count, so a record of many short lists (a pair record's 2 values per key) costs a
  look-up and a concatenation per key."""
  entry = _entry(key, FLOAT, _length_delimited(_TAG_1, bytes(4 * count)) if count else b'')
  return entry[:len(entry) - 4 * count]


class Example:
  """A record under construction: `put(key, kind, values)` per feature, then `serialize()`."""

  def __init__(self):
    self._entries: Dict[str, bytes] = {}  # key -> its encoded map entry

  def put(self, key: str, kind: str, values) -> None:
    """Sets feature `key` to a list of `kind` (BYTES, FLOAT or INT64); replaces an earlier one."""
    if kind not in _FEATURE_TAGS:
      raise errors.InputError(f'Unknown feature kind {kind!r}; valid: {sorted(_FEATURE_TAGS)}.')
    if kind == FLOAT:
      data = np.ascontiguousarray(values, '<f4')
      self.put_floats(key, data.tobytes(), data.size)
    else:
      self._entries[key] = _entry(key, kind, _LIST_ENCODERS[kind](values))

  def put_floats(self, key: str, data: bytes, count: int) -> None:
    """Sets float feature `key` from its `count` values as little-endian float32 bytes."""
    self._entries[key] = _float_entry_prefix(key, count) + data

  def put_float_rows(self, keys: Sequence[str], rows: np.ndarray) -> None:
    """Sets float feature keys[i] to rows[i] (any float array [len(keys), n])."""
    rows = np.ascontiguousarray(rows, '<f4').reshape(len(keys), -1)
    count = rows.shape[1]
    data, width = rows.tobytes(), 4 * count
    for index, key in enumerate(keys):
      self.put_floats(key, data[index * width:(index + 1) * width], count)

  def serialize(self) -> bytes:
    entries = self._entries
    return _length_delimited(_TAG_1, b''.join([entries[key] for key in sorted(entries)]))
