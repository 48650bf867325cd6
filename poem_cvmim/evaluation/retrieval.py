"""Cross-view pose retrieval: given a pose seen by one camera, find the same instant among
another camera's frames (the protocol of Pr-VIPE's and MCSS's retrieval tables).

A frame is identified by its clip (the same performance seen by every camera) and its frame
index. A query's retrieval is a hit at k when one of its k nearest gallery frames (L2 or
cosine distance, ties broken by gallery order) is from the same clip within `tolerance`
frames. Frames come from sequence records that hold several synchronised views of each clip.
"""

import glob
import itertools

import numpy as np
import tensorflow as tf

from poem_cvmim.core import keypoints
from poem_cvmim.core import records
from poem_cvmim.core import shards

METRICS = ('l2', 'cosine')
_QUERY_BLOCK = 1024  # queries per distance matrix


def clip_id(source_id: str, view: str) -> str:
  """The performance a view's clip shows: its source id without the trailing `_<view>`."""
  suffix = f'_{view}'
  return source_id[:-len(suffix)] if source_id.endswith(suffix) else source_id


def load_multiview_frames(sequence_dir: str, split: str, frame_stride: int = 1,
                          profile_2d: str = keypoints.LEGACY_2DCOCO13) -> dict:
  """Every `frame_stride`-th real (not replayed) frame of each view of one split.

  Returns {view: {'poses': [N, J, 2] profile-normalised, 'clips': [N] str, 'frames': [N]}}.
  """
  manifest = shards.read_manifest(sequence_dir)
  length = manifest['sequence_length']
  frames_by_view = {}
  for view in manifest['views']:
    files = sorted(glob.glob(shards.shard_pattern(sequence_dir, split, view)))
    shards.verify_shards(sequence_dir, files)
    if not files:
      continue
    parts = {'poses': [], 'clips': [], 'frames': []}
    dataset = tf.data.TFRecordDataset(files).batch(256).map(
        lambda s: records.parse_sequence_example(s, length, profile_2d=profile_2d))
    for parsed in dataset:
      records.check_finite_keypoints(parsed, sequence_dir, split, view)
      poses, _, _ = keypoints.get_profile(profile_2d).normalize(keypoints.to_pixels(
          parsed[records.KEYPOINTS_2D], parsed[records.IMAGE_SIZES]))
      for i, source in enumerate(parsed['source_id'].numpy().astype(str)):
        real = int(parsed['num_frames'][i]) or length
        kept = np.arange(0, real, frame_stride)
        parts['poses'].append(poses[i].numpy()[kept])
        parts['clips'].append(np.full(len(kept), clip_id(source, view)))
        parts['frames'].append(kept)
    frames_by_view[view] = {k: np.concatenate(v) for k, v in parts.items()}
    shards.check_count(sequence_dir, manifest, split, view,
                       len(np.unique(frames_by_view[view]['clips'])), 'clips')
  if not frames_by_view:
    raise ValueError(f'{sequence_dir} has no {split!r} sequences.')
  return frames_by_view


def _distances(queries, gallery, metric):
  if metric == 'cosine':
    queries = queries / np.maximum(np.linalg.norm(queries, axis=-1, keepdims=True), 1e-12)
    gallery = gallery / np.maximum(np.linalg.norm(gallery, axis=-1, keepdims=True), 1e-12)
    return 1.0 - queries @ gallery.T
  squared = (np.sum(queries ** 2, -1)[:, None] + np.sum(gallery ** 2, -1)[None]
             - 2.0 * queries @ gallery.T)
  return np.sqrt(np.maximum(squared, 0.0))


def hit_rates(queries, query_clips, query_frames, gallery, gallery_clips, gallery_frames,
              ks=(1, 5, 10), tolerance=0, metric='l2') -> dict:
  """{k: fraction of queries with a matching gallery frame among their k nearest}.

  Args:
    queries [Q, D], gallery [G, D]: embeddings (float64 is used for the distances).
    query_clips [Q], gallery_clips [G]: clip identities; query_frames, gallery_frames: indices.
    ks: The k of Hit@k. tolerance: largest |frame difference| that still matches.
    metric: 'l2' or 'cosine'.
  """
  if metric not in METRICS:
    raise ValueError(f'Unknown metric {metric!r}; valid: {", ".join(METRICS)}.')
  queries, gallery = np.asarray(queries, np.float64), np.asarray(gallery, np.float64)
  max_k = min(max(ks), len(gallery))
  hits = {k: 0 for k in ks}
  for start in range(0, len(queries), _QUERY_BLOCK):
    block = slice(start, start + _QUERY_BLOCK)
    distances = _distances(queries[block], gallery, metric)
    nearest = np.argsort(distances, axis=-1, kind='stable')[:, :max_k]
    match = ((gallery_clips[nearest] == np.asarray(query_clips)[block, None])
             & (np.abs(gallery_frames[nearest] - np.asarray(query_frames)[block, None])
                <= tolerance))
    for k in ks:
      hits[k] += int(np.sum(np.any(match[:, :k], axis=-1)))
  return {k: hits[k] / len(queries) for k in ks}


def cross_view_hit_rates(embeddings_by_view: dict, frames_by_view: dict, ks=(1, 5, 10),
                         tolerance=0, metric='l2') -> dict:
  """Hit@k for every ordered pair of views and their mean.

  Returns {'pairs': {'A->B': {k: rate}}, 'mean': {k: rate}}.
  """
  pairs = {}
  for query_view, gallery_view in itertools.permutations(sorted(embeddings_by_view), 2):
    query, gallery = frames_by_view[query_view], frames_by_view[gallery_view]
    pairs[f'{query_view}->{gallery_view}'] = hit_rates(
        embeddings_by_view[query_view], query['clips'], query['frames'],
        embeddings_by_view[gallery_view], gallery['clips'], gallery['frames'], ks,
        tolerance, metric)
  mean = {k: float(np.mean([rates[k] for rates in pairs.values()])) for k in ks}
  return {'pairs': pairs, 'mean': mean}


def same_view_rate(embeddings_by_view: dict, frames_by_view: dict, metric='l2') -> float:
  """How often a frame's nearest neighbour among the other clips' frames of every view is
  from its own view (z_v's disentanglement check; chance is about 1 / number of views)."""
  views = sorted(embeddings_by_view)
  embeddings = np.concatenate([embeddings_by_view[v] for v in views]).astype(np.float64)
  labels = np.concatenate([np.full(len(embeddings_by_view[v]), i) for i, v in enumerate(views)])
  clips = np.concatenate([frames_by_view[v]['clips'] for v in views])
  same = 0
  for start in range(0, len(embeddings), _QUERY_BLOCK):
    block = slice(start, start + _QUERY_BLOCK)
    distances = _distances(embeddings[block], embeddings, metric)
    distances[clips[block, None] == clips[None]] = np.inf  # not the same performance
    same += int(np.sum(labels[np.argmin(distances, axis=-1)] == labels[block]))
  return same / len(embeddings)
