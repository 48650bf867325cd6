"""The NTU RGB+D `.skeleton` text format (data_prep/README.md): names, parsing, the main actor, writing.

A file named SsssCcccPpppRrrrAaaa.skeleton holds: the frame count; per frame a body count (0 or
more); per body a 10-field info line (body id first), a joint count (25) and one line per joint
of 12 fields: x y z (camera space, metres), depthX depthY, colorX colorY (pixels of the 1920 x
1080 colour image), orientation w x y z, tracking state (0 not tracked, 1 inferred, 2 tracked).
Files use CRLF line endings; both endings are read.
"""

import dataclasses
import os
import re
from typing import Dict, List, Sequence, Tuple, Union

import numpy as np
import pyarrow
from pyarrow import csv as arrow_csv

from poem_cvmim.core import errors
from data_prep.conversion import MalformedInput

NAME_PATTERN = re.compile(r'S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})')
FILE_SUFFIX = '.skeleton'
NUM_JOINTS = 25
BODY_INFO_FIELDS = 10
JOINT_FIELDS = 12
# Field positions in a joint line.
FIELDS_XYZ = slice(0, 3)
FIELD_COLOR_X, FIELD_COLOR_Y = 5, 6
FIELD_TRACKING = 11
ALL_FIELDS = tuple(range(JOINT_FIELDS))


@dataclasses.dataclass(frozen=True)
class SampleName:
  """The parts of SsssCcccPpppRrrrAaaa."""
  setup: int
  camera: int
  performer: int
  replication: int
  action: int

  @property
  def stem(self) -> str:
    return (f'S{self.setup:03d}C{self.camera:03d}P{self.performer:03d}'
            f'R{self.replication:03d}A{self.action:03d}')

  @property
  def view(self) -> str:
    """Camera x replication: C1R1 ... C3R2."""
    return f'C{self.camera}R{self.replication}'

  @property
  def motion_key(self) -> Tuple[int, int, int, int]:
    """Equal for the files the three cameras recorded at once (all but the camera)."""
    return (self.setup, self.performer, self.replication, self.action)


def parse_name(path: str) -> SampleName:
  """SampleName of a file name; ValueError if it does not follow the pattern."""
  base = os.path.basename(path)
  match = NAME_PATTERN.fullmatch(base[:-len(FILE_SUFFIX)] if base.endswith(FILE_SUFFIX)
                                 else base)
  if not match:
    raise errors.InputError(f'{base} does not follow SsssCcccPpppRrrrAaaa{FILE_SUFFIX}.')
  return SampleName(*(int(group) for group in match.groups()))


def read_name_list(path: str) -> frozenset:
  """Sample names listed in a file (the official missing-skeleton list); other lines, such as
  its header, are not names and are ignored."""
  with open(path) as f:
    return frozenset(m.group(0) for m in (NAME_PATTERN.fullmatch(line.strip()) for line in f)
                     if m)


@dataclasses.dataclass
class Body:
  """The frames a body id appears in and its joints there: [n, 25, 12] (an array, or a list
  of [25, 12] arrays)."""
  frames: List[int]
  joints: Union[np.ndarray, List[np.ndarray]]


@dataclasses.dataclass
class Skeleton:
  num_frames: int
  bodies: Dict[str, Body]  # by body id, in order of first appearance


class _Lines:
  """Line reader that knows its 1-based line number, for error messages. `what` names what is
  read, formatted with `args` only when it goes into a message."""

  def __init__(self, text: str, source: str):
    self.text = text
    self.lines = text.splitlines()
    self.source = source
    self.index = 0

  def error(self, reason: str, line: int = None) -> MalformedInput:
    return MalformedInput(self.source, reason, line or min(self.index + 1, len(self.lines) + 1))

  def skip(self, count: int, what: str, *args) -> None:
    if self.index + count > len(self.lines):
      raise self.error(f'file ends after {len(self.lines)} lines while reading '
                       f'{what.format(*args)} (truncated?)', len(self.lines) + 1)
    self.index += count

  def line(self, what: str, *args) -> str:
    self.skip(1, what, *args)
    return self.lines[self.index - 1]

  def integer(self, what: str, *args) -> int:
    text = self.line(what, *args).strip()
    try:
      value = int(text)
    except ValueError:
      raise self.error(f'expected {what.format(*args)} (an integer), found {text[:40]!r}',
                       self.index) from None
    if value < 0:
      raise self.error(f'{what.format(*args)} is negative ({value})', self.index)
    return value


def parse_skeleton(text: str, source: str = '<skeleton>',
                   fields: Sequence[int] = ALL_FIELDS) -> Skeleton:
  """Parses the text of one `.skeleton` file; MalformedInput names the line at fault.

  The header lines (counts, body info) are walked in Python; the joint lines of all bodies and
  frames, nearly all of the file, are converted in one call to Arrow's CSV reader (compiled,
  correctly rounded: the same floats as Python's `float`), or NumPy's text reader where Arrow
  refuses the lines (other spacing), which also finds the line at fault. Only the joint `fields`
  asked for are converted (the others are NaN); every joint line must still hold 12 fields.
  """
  lines = _Lines(text, source)
  num_frames = lines.integer('the frame count')
  blocks = []  # (body id, frame, index of the block's first joint line)
  for frame in range(num_frames):
    for _ in range(lines.integer('the body count of frame {}', frame)):
      info = lines.line('a body info line of frame {}', frame).split()
      if len(info) != BODY_INFO_FIELDS:
        raise lines.error(f'body info line has {len(info)} fields, expected '
                          f'{BODY_INFO_FIELDS}', lines.index)
      num_joints = lines.integer('the joint count of frame {}', frame)
      if num_joints != NUM_JOINTS:
        raise lines.error(f'joint count is {num_joints}, expected {NUM_JOINTS}', lines.index)
      blocks.append((info[0], frame, lines.index))
      lines.skip(NUM_JOINTS, 'the joints of frame {}', frame)
  rest = [i for i in range(lines.index, len(lines.lines)) if lines.lines[i].strip()]
  if rest:
    raise lines.error(f'unexpected content after the {num_frames} frames the file declares',
                      rest[0] + 1)
  joints = _joint_blocks(lines, [first for _, _, first in blocks], tuple(fields))
  by_body = {}  # body id -> indices of its blocks, in order of first appearance
  for index, (body_id, _, _) in enumerate(blocks):
    by_body.setdefault(body_id, []).append(index)
  return Skeleton(num_frames, {
      body_id: Body([blocks[i][1] for i in indices], joints[indices])
      for body_id, indices in by_body.items()})


# Spaces in a body's lines as the dataset writes them: 9 in the info line, 11 per joint line
# (single spaces, none at the end); count lines have none.
_SPACES_PER_BODY = BODY_INFO_FIELDS - 1 + NUM_JOINTS * (JOINT_FIELDS - 1)


def _joint_blocks(lines: _Lines, firsts: Sequence[int], fields: Tuple[int, ...]) -> np.ndarray:
  """[blocks, 25, 12] floats of the 25-line joint blocks starting at the line indices `firsts`
  (NaN outside `fields`); on failure the block at fault is checked line by line for the
  message."""
  joints = np.full((len(firsts), NUM_JOINTS, JOINT_FIELDS), np.nan)
  if not firsts:
    return joints
  block_lines = [line for first in firsts for line in lines.lines[first:first + NUM_JOINTS]]
  values = _arrow_floats(block_lines, fields)
  if values is not None:
    joints[..., fields] = values.reshape(len(firsts), NUM_JOINTS, len(fields))
    return joints
  # Converting some fields only: lines with fewer than 12 fields raise, and the file's space
  # count rules out more; a file spaced otherwise takes the full path.
  if fields != ALL_FIELDS and lines.text.count(' ') != _SPACES_PER_BODY * len(firsts):
    fields = ALL_FIELDS
  try:
    # comments=None: no character starts a comment. A blank line would be skipped, which
    # the shape check catches.
    values = np.loadtxt(block_lines, np.float64, comments=None, ndmin=2,
                        usecols=None if fields == ALL_FIELDS else fields)
    if values.shape == (len(block_lines), len(fields)):
      joints[..., fields] = values.reshape(len(firsts), NUM_JOINTS, len(fields))
      return joints
  except ValueError:
    pass
  for first in firsts:
    _check_joint_block(lines.lines[first:first + NUM_JOINTS], first + 1, lines, fields)
  raise lines.error('unreadable joint block', firsts[0] + 1)


_ARROW_NAMES = [str(i) for i in range(JOINT_FIELDS)]
# One space between fields, nothing quoted or escaped, no empty line, no null: any other line
# fails the read and goes to NumPy's reader.
_ARROW_PARSE = arrow_csv.ParseOptions(delimiter=' ', quote_char=False, double_quote=False,
                                      escape_char=False, ignore_empty_lines=False)


def _arrow_floats(block_lines: Sequence[str], fields: Tuple[int, ...]):
  """[lines, len(fields)] float64 of lines of exactly 12 single-space-separated numbers, or
  None if any line is not like that."""
  data = '\n'.join(block_lines).encode()
  read = arrow_csv.ReadOptions(column_names=_ARROW_NAMES, use_threads=False,
                               block_size=len(data) + 1)  # one block: no chunk boundaries
  convert = arrow_csv.ConvertOptions(
      column_types={name: pyarrow.float64() for name in _ARROW_NAMES},
      include_columns=[_ARROW_NAMES[i] for i in fields], null_values=[],
      strings_can_be_null=False, quoted_strings_can_be_null=False)
  try:
    table = arrow_csv.read_csv(pyarrow.BufferReader(data),
                               read_options=read, parse_options=_ARROW_PARSE,
                               convert_options=convert)
  except pyarrow.ArrowInvalid:
    return None
  if table.num_rows != len(block_lines):
    return None
  return np.stack([column.to_numpy() for column in table.columns], axis=1)


def _check_joint_block(block: Sequence[str], first_line: int, lines: _Lines,
                       fields: Tuple[int, ...]) -> None:
  """Raises MalformedInput for the first joint line without 12 fields or with a non-number
  among `fields`."""
  for offset, line in enumerate(block):
    values = line.split()
    if len(values) != JOINT_FIELDS:
      raise lines.error(f'joint line has {len(values)} fields, expected {JOINT_FIELDS}',
                        first_line + offset)
    try:
      np.array([values[i] for i in fields], np.float64)
    except ValueError:
      raise lines.error(f'joint line holds a non-number: {line.strip()[:60]!r}',
                        first_line + offset) from None


def read_skeleton(path: str, fields: Sequence[int] = ALL_FIELDS) -> Skeleton:
  """Parses one file; bytes that are not text make it a malformed input (named, skipped)."""
  with open(path, 'rb') as f:
    data = f.read()
  try:
    text = data.decode('utf-8')
  except UnicodeDecodeError as error:
    line = data[:error.start].count(b'\n') + 1
    raise MalformedInput(
        path, f'not a text file: byte 0x{data[error.start]:02x} at offset {error.start} is '
        'not UTF-8', line) from None
  return parse_skeleton(text, path, fields)


def motion_energy(body: Body) -> float:
  """Sum over joints and axes of the variance of x, y, z over the body's frames."""
  xyz = np.asarray(body.joints)[:, :, FIELDS_XYZ]
  return float(np.sum(np.var(xyz, axis=0)))


def main_actor(skeleton: Skeleton) -> Tuple[str, np.ndarray]:
  """(body id, joints [num_frames, 25, 12]) of the body with the largest motion energy.

  Frames where that body is absent are filled from the nearest frame where it is present (the
  earlier one on a tie). Ties in energy go to the body seen first. Raises ValueError when no
  frame has a body.
  """
  if not skeleton.bodies:
    raise errors.InputError('no body in any frame')
  energies = [(motion_energy(body), -order, body_id)
              for order, (body_id, body) in enumerate(skeleton.bodies.items())]
  body_id = max(energies)[2]
  body = skeleton.bodies[body_id]
  present = np.asarray(body.frames)
  frames = np.arange(skeleton.num_frames)
  after = np.clip(np.searchsorted(present, frames), 0, len(present) - 1)
  before = np.clip(after - 1, 0, len(present) - 1)
  use_before = np.abs(frames - present[before]) <= np.abs(present[after] - frames)
  nearest = np.where(use_before, before, after)
  return body_id, np.asarray(body.joints)[nearest]


def format_skeleton(frames: Sequence[Sequence[Tuple[str, np.ndarray]]],
                    newline: str = '\r\n') -> str:
  """The text of a `.skeleton` file: `frames[t]` lists (body id, joints [25, 12]).

  Used to write fixtures and benchmark inputs; the info line's other 9 fields get the values a
  tracked, unrestricted body has in the real files.
  """
  out = [str(len(frames))]
  for bodies in frames:
    out.append(str(len(bodies)))
    for body_id, joints in bodies:
      out.append(f'{body_id} 0 1 1 1 1 0 0.01 -0.2 2')
      out.append(str(NUM_JOINTS))
      for joint in np.asarray(joints):
        fields = [f'{v:.7g}' for v in joint[:FIELD_TRACKING]] + [str(int(joint[FIELD_TRACKING]))]
        out.append(' '.join(fields))
  return newline.join(out) + newline
