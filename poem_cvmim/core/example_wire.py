"""tf.train.Example records encoded without TensorFlow (docs/records.md).

Converter workers build records in processes that never import TensorFlow (importing it costs
seconds and hundreds of MB per process). An `Example` holds `{key: (kind, values)}` and
`serialize()` writes the protobuf wire format of `tensorflow.Example`:

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
from typing import Dict, Iterable, Tuple

import numpy as np

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


def float_list(values) -> bytes:
  """FloatList body of `values` (cast to float32, as tf.train.FloatList stores them)."""
  data = np.ascontiguousarray(values, '<f4').tobytes()
  return _length_delimited(_TAG_1, data) if data else b''


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


_LIST_ENCODERS = {BYTES: bytes_list, FLOAT: float_list, INT64: int64_list}


class Example:
  """A record under construction: `put(key, kind, values)` per feature, then `serialize()`."""

  def __init__(self):
    self._features: Dict[str, Tuple[str, bytes]] = {}

  def put(self, key: str, kind: str, values) -> None:
    """Sets feature `key` to a list of `kind` (BYTES, FLOAT or INT64); replaces an earlier one."""
    if kind not in _LIST_ENCODERS:
      raise ValueError(f'Unknown feature kind {kind!r}; valid: {sorted(_LIST_ENCODERS)}.')
    self._features[key] = (kind, _LIST_ENCODERS[kind](values))

  def put_encoded(self, key: str, kind: str, body: bytes) -> None:
    """Sets feature `key` from a list body already encoded by `float_list` and friends."""
    self._features[key] = (kind, body)

  def keys(self):
    return self._features.keys()

  def serialize(self) -> bytes:
    pieces = []
    for key in sorted(self._features):
      kind, body = self._features[key]
      body_length = varint(len(body))
      feature_length = 1 + len(body_length) + len(body)
      key_field = _key_field(key)
      feature_varint = varint(feature_length)
      entry_length = len(key_field) + 1 + len(feature_varint) + feature_length
      pieces += (_TAG_1, varint(entry_length), key_field, _TAG_2, feature_varint,
                 _FEATURE_TAGS[kind], body_length, body)
    return _length_delimited(_TAG_1, b''.join(pieces))


@functools.lru_cache(maxsize=4096)
def _key_field(key: str) -> bytes:
  """The map entry's key field (field 1, the key's UTF-8 bytes)."""
  return _length_delimited(_TAG_1, key.encode('utf-8'))
