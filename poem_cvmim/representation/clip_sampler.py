"""Clip-grouped batches of pair records (docs/mining.md): the input of temporal hard negatives.

A batch holds P = batch_size / K clips and K instants of each, at least `negative_gap` frames
apart (a set of fewer, long clips gives several groups of K from one clip, all spaced), one pair record (one camera pair) per instant: the batch's other instants of a clip are
the anchor's hard negatives, same subject and cameras, another pose. Where the clip offers it,
every instant of a clip is seen by one camera pair (drawn for each clip and batch).

Batch `s` is a function of (seed, s) alone, drawn with NumPy from the records' metadata, so a
run resumed at step s reads exactly the batches the uninterrupted run would have read. The
records are held in memory (the size of the pair files); their metadata are read once at the
start.
"""

import collections
import dataclasses

import numpy as np

from poem_cvmim.core import errors
from poem_cvmim.core import lazy_tensorflow
from poem_cvmim.core import records

tf = lazy_tensorflow.deferred
_READ_BATCH = 4096
# Random orders tried before a clip's instants are drawn from its evenly spaced ones.
_ATTEMPTS = 4


@dataclasses.dataclass
class ClipIndex:
  """The pair records by clip: `serialized[i]` is record i; `clips[c]` the name of clip c;
  `instants[c]` {frame: [record indices]} of clip c; `cameras[i]` record i's camera pair."""
  serialized: list
  clips: list
  instants: list
  cameras: list


def read_index(files, log=None) -> ClipIndex:
  """Reads every record and its clip, frame and cameras (`records.PAIR_METADATA`)."""
  spec = records.pair_metadata_spec()
  dataset = tf.data.TFRecordDataset(files).batch(_READ_BATCH)
  serialized, clip_ids, instants, cameras = [], {}, [], []
  key = lambda name: records.METADATA_KEYS[name][0]
  for batch in dataset:
    parsed = tf.io.parse_example(batch, spec)
    sources = parsed[key(records.SOURCE_ID)].numpy()
    frames = parsed[key(records.FRAME_INDEX)].numpy()
    pairs = parsed[key(records.CAMERA)].numpy()
    for record, source, frame, pair in zip(batch.numpy(), sources, frames, pairs):
      clip = clip_ids.setdefault(source, len(clip_ids))
      if clip == len(instants):
        instants.append(collections.defaultdict(list))
      instants[clip][int(frame[0])].append(len(serialized))
      serialized.append(record)
      cameras.append(tuple(pair))
  if log is not None:
    log(f'[input] {len(serialized)} pair records of {len(clip_ids)} clips')
  return ClipIndex(serialized, [c.decode('utf-8', 'replace') for c in clip_ids],
                   [dict(i) for i in instants], cameras)


def spaced(frames, gap: int) -> list:
  """The most frames of sorted `frames` at least `gap` apart, taken greedily from the first."""
  chosen = []
  for frame in frames:
    if not chosen or frame - chosen[-1] >= gap:
      chosen.append(frame)
  return chosen


def choose_instants(frames, count: int, gap: int, rng) -> list:
  """`count` frames of `frames` pairwise at least `gap` apart, drawn with `rng`.

  Frames are tried in random orders, each kept if it is `gap` from every kept one; if no order
  gives `count`, a random `count` of the greedily spaced frames (which hold enough wherever
  `spaced` does)."""
  frames = sorted(frames)
  for _ in range(_ATTEMPTS):
    kept = []
    for frame in rng.permutation(frames):
      if all(abs(frame - k) >= gap for k in kept):
        kept.append(int(frame))
        if len(kept) == count:
          return sorted(kept)
  evenly = spaced(frames, gap)
  return sorted(int(f) for f in rng.choice(evenly, count, replace=False))


class ClipSampler:
  """Batches of record indices: `batch(step)` the global batch of one step."""

  def __init__(self, index: ClipIndex, batch_size: int, instants_per_clip: int,
               negative_gap: int, seed=None, source: str = 'the input'):
    if batch_size % instants_per_clip:
      raise errors.InputError(f'batch_size {batch_size} is not a multiple of '
                              f'instants_per_clip {instants_per_clip}.')
    self.index, self.instants_per_clip, self.gap = index, instants_per_clip, negative_gap
    self.clips_per_batch = batch_size // instants_per_clip
    # How many groups of K spaced instants each clip can give at once.
    self.capacity = {c: len(spaced(sorted(instants), negative_gap)) // instants_per_clip
                     for c, instants in enumerate(index.instants)}
    self.eligible = [c for c, groups in self.capacity.items() if groups]
    groups = sum(self.capacity.values())
    if groups < self.clips_per_batch:
      raise errors.InputError(
          f'{source}: {len(self.eligible)} of {len(index.clips)} clips hold {groups} groups of '
          f'{instants_per_clip} instants {negative_gap} frames apart; a batch of '
          f'{batch_size} needs {self.clips_per_batch}: lower --batch_size, '
          '--instants_per_clip or --negative_gap, or use more or longer clips.')
    self.seed = int(np.random.SeedSequence().entropy % 2**63) if seed is None else int(seed)

  def _clips(self, rng) -> list:
    """[(clip, groups)] of one batch: distinct clips where there are enough, else some clips
    give several groups (a long recording: all its instants still pairwise spaced)."""
    if len(self.eligible) >= self.clips_per_batch:
      return [(int(c), 1) for c in rng.choice(self.eligible, self.clips_per_batch,
                                              replace=False)]
    counts = dict.fromkeys(self.eligible, 0)
    for _ in range(self.clips_per_batch):
      open_ = [c for c in self.eligible if counts[c] < self.capacity[c]]
      counts[open_[rng.integers(len(open_))]] += 1
    return [(c, n) for c, n in counts.items() if n]

  def batch(self, step: int) -> list:
    """Record indices of the global batch of `step`, clip by clip."""
    rng = np.random.default_rng([self.seed, int(step)])
    indices = []
    cameras = self.index.cameras
    for clip, groups in self._clips(rng):
      instants = self.index.instants[clip]
      # The camera pair of a random record of the clip, kept for every instant if the frames
      # it saw hold enough spaced instants.
      frames = sorted(instants)
      first = instants[frames[rng.integers(len(frames))]]
      pair = cameras[first[rng.integers(len(first))]]
      seen = [f for f in frames if any(cameras[i] == pair for i in instants[f])]
      count = groups * self.instants_per_clip
      if len(spaced(seen, self.gap)) >= count:
        frames = seen
      for frame in choose_instants(frames, count, self.gap, rng):
        candidates = instants[frame]
        same = [i for i in candidates if cameras[i] == pair]
        indices.append(int(rng.choice(same or candidates)))
    return indices


def clip_dataset(patterns, global_batch_size, instants_per_clip, negative_gap, profile_2d,
                 profile_3d, seed=None, input_context=None, start_step=0, log=None):
  """Clip-grouped batches of parsed pair records (metadata included) from `start_step` on.

  The global batch is cut into per-replica slices in order; each input pipeline gives its
  replicas' slices in turn.
  """
  # The records' metadata are checked once, by the trainer (`Trainer.check_records`).
  index = read_index(records.expand_patterns(patterns), log)
  sampler = ClipSampler(index, global_batch_size, instants_per_clip, negative_gap, seed,
                        source=str(patterns))
  batch_size, chunks = global_batch_size, [0]
  if input_context is not None:  # this pipeline's replicas take their slices in turn
    batch_size = input_context.get_per_replica_batch_size(global_batch_size)
    per_pipeline = (input_context.num_replicas_in_sync
                    // input_context.num_input_pipelines)
    first = input_context.input_pipeline_id * per_pipeline
    chunks = range(first, first + per_pipeline)

  def batches():
    step = start_step
    while True:
      rows = sampler.batch(step)
      for chunk in chunks:
        yield np.array([index.serialized[i] for i in rows[chunk * batch_size:][:batch_size]],
                       dtype=object)
      step += 1

  dataset = tf.data.Dataset.from_generator(
      batches, output_signature=tf.TensorSpec([batch_size], tf.string))
  dataset = dataset.map(
      lambda serialized: records.parse_pair_example(serialized, profile_2d, profile_3d,
                                                    with_metadata=True))
  return dataset.prefetch(2)
