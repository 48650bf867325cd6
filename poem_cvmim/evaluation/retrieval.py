"""Cross-view pose retrieval: given a pose seen by one camera, find the same instant among
another camera's frames (the protocol of Pr-VIPE's and MCSS's retrieval tables).

A frame is identified by its clip (the same performance seen by every camera) and its frame
index. A query's retrieval is a hit at k when one of its k nearest gallery frames (L2 or
cosine distance, ties broken by gallery order) is

- `frame`: from the same clip within `tolerance` frames,
- `pose` (where 3D exists): a pose whose Procrustes-aligned MPJPE to the query's 3D pose is
  at most `mpjpe_threshold` (Pr-VIPE's NP-MPJPE criterion, 0.1 in normalised 3D units), so
  that the same pose at another instant or in another clip also counts, or
- `mpjpe` (where 3D exists): a pose whose root-relative MPJPE to the query's, in the records'
  own unit and frame (millimetres for Human3.6M and MPI-INF-3DHP), is at most
  `mpjpe_mm_threshold`. Without alignment: meaningful where records store one world frame for
  every camera (Human3.6M, the synthetic set), not camera-space 3D (MPI-INF-3DHP: use `pose`).

Frames come from `evaluation/frame_sources.py` (sequence records, pair records, recordings of
detector output).
"""

import itertools
from typing import Optional

import numpy as np

from poem_cvmim.core import errors
from poem_cvmim.core import frames as frames_lib
from poem_cvmim.core import lazy_tensorflow
from poem_cvmim.core import procrustes

tf = lazy_tensorflow.deferred

METRICS = ('l2', 'cosine')
FRAME, POSE, MPJPE_MM = 'frame', 'pose', 'mpjpe'
CRITERIA = (FRAME, POSE, MPJPE_MM)
NP_MPJPE_THRESHOLD = 0.1  # Pr-VIPE's: aligned MPJPE in normalised 3D units
# Root-relative MPJPE of a match in the records' unit: 50 mm, about NP-MPJPE 0.1 on a person
# whose hip-spine-thorax length is 0.5 m (our default, not a published one).
MPJPE_MM_THRESHOLD = 50.0
CRITERIA_3D = (POSE, MPJPE_MM)  # the criteria that compare 3D poses
Frames = frames_lib.Frames
_QUERY_BLOCK = 1024  # queries per distance matrix
_POSE_VALUES = 2 ** 21  # query-gallery pairs x joints per block of the pose criterion's mAP
NO_OTHER_CLIP = ('(not measured: every frame is of one recording, so no frame has a neighbour '
                 'from another performance to compare cameras on; give several recordings)')


def _poses_3d(frames: Frames, criterion: str):
  """The 3D a criterion compares (None for the frame criterion)."""
  return {POSE: frames.poses_3d, MPJPE_MM: frames.poses_3d_mm}.get(criterion)


def _distances(queries, gallery, metric):
  if metric == 'cosine':
    queries = queries / np.maximum(np.linalg.norm(queries, axis=-1, keepdims=True), 1e-12)
    gallery = gallery / np.maximum(np.linalg.norm(gallery, axis=-1, keepdims=True), 1e-12)
    return 1.0 - queries @ gallery.T
  squared = (np.sum(queries ** 2, -1)[:, None] + np.sum(gallery ** 2, -1)[None]
             - 2.0 * queries @ gallery.T)
  return np.sqrt(np.maximum(squared, 0.0))


def nearest_indices(distances: np.ndarray, k: int) -> np.ndarray:
  """Columns of the k smallest distances of each row [Q, G], nearest first, ties broken by
  column order: `np.argsort(distances, kind='stable')[:, :k]` without sorting whole rows.

  A partial partition finds each row's k smallest; rows where more than k columns share the
  k-th distance (ties across the cut, or NaNs) are sorted in full.
  """
  if k >= distances.shape[1]:
    return np.argsort(distances, axis=-1, kind='stable')[:, :k]
  candidates = np.argpartition(distances, k - 1, axis=-1)[:, :k]
  values = np.take_along_axis(distances, candidates, axis=-1)
  order = np.lexsort((candidates, values), axis=-1)  # by distance, then column
  nearest = np.take_along_axis(candidates, order, axis=-1)
  kth = np.take_along_axis(values, order[:, -1:], axis=-1)
  ambiguous = np.flatnonzero(np.sum(distances <= kth, axis=-1) != k)
  if len(ambiguous):
    nearest[ambiguous] = np.argsort(distances[ambiguous], axis=-1, kind='stable')[:, :k]
  return nearest


def _check(metric, criterion):
  if metric not in METRICS:
    raise errors.InputError(f'Unknown metric {metric!r}; valid: {", ".join(METRICS)}.')
  if criterion not in CRITERIA:
    raise errors.InputError(f'Unknown criterion {criterion!r}; valid: {", ".join(CRITERIA)}.')


def aligned_mpjpe(targets, sources) -> np.ndarray:
  """Procrustes-aligned MPJPE [...] of 3D poses [..., J, 3] (sources aligned onto targets)."""
  return procrustes.procrustes_aligned_mpjpe(
      tf.constant(targets, tf.float64), tf.constant(sources, tf.float64)).numpy()


def hit_rates(queries, query_clips, query_frames, gallery, gallery_clips, gallery_frames,
              ks=(1, 5, 10), tolerance=0, metric='l2', criterion=FRAME, query_3d=None,
              gallery_3d=None, mpjpe_threshold=NP_MPJPE_THRESHOLD) -> dict:
  """{k: fraction of queries with a matching gallery frame among their k nearest}.

  Args:
    queries [Q, D], gallery [G, D]: embeddings (float64 is used for the distances).
    query_clips [Q], gallery_clips [G]: clip identities; query_frames, gallery_frames: indices.
    ks: The k of Hit@k. tolerance: largest |frame difference| that still matches (`frame`).
    metric: 'l2' or 'cosine'.
    criterion: `frame` (same clip within `tolerance`) or `pose` (aligned MPJPE of the 3D
      poses query_3d [Q, J, 3] and gallery_3d [G, J, 3] at most `mpjpe_threshold`).
  """
  return retrieval_scores(queries, query_clips, query_frames, gallery, gallery_clips,
                          gallery_frames, ks, tolerance, metric, criterion, query_3d, gallery_3d,
                          mpjpe_threshold, with_map=False)['hit']


def retrieval_scores(queries, query_clips, query_frames, gallery, gallery_clips, gallery_frames,
                     ks=(1, 5, 10), tolerance=0, metric='l2', criterion=FRAME, query_3d=None,
                     gallery_3d=None, mpjpe_threshold=NP_MPJPE_THRESHOLD,
                     with_map=True) -> dict:
  """Hit@k and mAP@k of one query set against one gallery (arguments as `hit_rates`).

  AP@k of a query with R matching gallery frames (over the whole gallery) and rel(i) = 1 where
  its i-th nearest matches: sum over i <= k of precision@i rel(i), divided by min(k, R).
  mAP@k is its mean over the queries that have a match (R > 0); the others count as misses in
  Hit@k and are left out of mAP@k (their number is returned).

  Returns {'hit': {k: rate}, 'map': {k: mAP or None}, 'queries_with_match': int} ('map' and
  'queries_with_match' only `with_map`).
  """
  _check(metric, criterion)
  if criterion != FRAME and (query_3d is None or gallery_3d is None):
    raise errors.InputError(f'The {criterion} criterion needs the 3D poses of queries and '
                            'gallery.')
  queries, gallery = np.asarray(queries, np.float64), np.asarray(gallery, np.float64)
  query_clips, query_frames = np.asarray(query_clips), np.asarray(query_frames)
  max_k = min(max(ks), len(gallery))
  hits = {k: 0 for k in ks}
  precision_sums = {k: 0.0 for k in ks}
  with_match = 0
  # The pose criterion's match matrix [block, G, J, 3] must fit: smaller blocks.
  block_size = (_QUERY_BLOCK if criterion == FRAME or (criterion == POSE and not with_map)
                else max(1, _POSE_VALUES // max(1, len(gallery) * np.asarray(gallery_3d).shape[-2])))
  for start in range(0, len(queries), block_size):
    block = slice(start, start + block_size)
    distances = _distances(queries[block], gallery, metric)
    nearest = nearest_indices(distances, max_k)
    if criterion == FRAME:
      def matches(columns):
        return ((gallery_clips[columns] == query_clips[block, None])
                & (np.abs(gallery_frames[columns] - query_frames[block, None]) <= tolerance))
      match = matches(nearest)
      relevant = (np.sum(matches(np.arange(len(gallery))[None]), axis=-1) if with_map
                  else None)
    elif criterion == MPJPE_MM:
      difference = np.asarray(query_3d)[block, None] - np.asarray(gallery_3d)[None]
      every = np.mean(np.linalg.norm(difference, axis=-1), axis=-1) <= mpjpe_threshold
      match = np.take_along_axis(every, nearest, axis=-1)
      relevant = np.sum(every, axis=-1)
    elif with_map:
      every = procrustes.pairwise_procrustes_aligned_mpjpe(
          tf.constant(np.asarray(query_3d)[block], tf.float64),
          tf.constant(np.asarray(gallery_3d), tf.float64)).numpy() <= mpjpe_threshold
      match = np.take_along_axis(every, nearest, axis=-1)
      relevant = np.sum(every, axis=-1)
    else:
      targets = np.repeat(np.asarray(query_3d)[block, None], nearest.shape[1], axis=1)
      match = aligned_mpjpe(targets, np.asarray(gallery_3d)[nearest]) <= mpjpe_threshold
    for k in ks:
      hits[k] += int(np.sum(np.any(match[:, :k], axis=-1)))
    if with_map:
      has = relevant > 0
      with_match += int(np.sum(has))
      ranks = np.arange(1, match.shape[1] + 1)
      precision = np.cumsum(match, axis=-1) / ranks  # precision@i
      for k in ks:
        top = min(k, match.shape[1])
        gained = np.sum((precision * match)[:, :top], axis=-1)
        precision_sums[k] += float(np.sum(gained[has] / np.minimum(k, relevant[has])))
  result = {'hit': {k: hits[k] / len(queries) for k in ks}}
  if with_map:
    result['map'] = {k: (precision_sums[k] / with_match if with_match else None) for k in ks}
    result['queries_with_match'] = with_match
  return result


def cross_view_hit_rates(embeddings_by_view: dict, frames_by_view: dict, ks=(1, 5, 10),
                         tolerance=0, metric='l2', criterion=FRAME,
                         mpjpe_threshold=NP_MPJPE_THRESHOLD,
                         mpjpe_mm_threshold=MPJPE_MM_THRESHOLD) -> dict:
  """Hit@k and mAP@k (`retrieval_scores`) for every ordered pair of views and their means
  (`pose` needs 'poses_3d', `mpjpe` 'poses_3d_mm').

  Returns {'pairs': {'A->B': {k: rate}}, 'mean': {k: rate}, 'map': {'pairs': {'A->B': {k: mAP}},
  'mean': {k: mAP}}} (a pair without a query that has a match has mAP None, and is left out
  of the mean).
  """
  pairs, maps = {}, {}
  for query_view, gallery_view in itertools.permutations(sorted(embeddings_by_view), 2):
    query, gallery = frames_by_view[query_view], frames_by_view[gallery_view]
    scores = retrieval_scores(
        embeddings_by_view[query_view], query.clips, query.frames,
        embeddings_by_view[gallery_view], gallery.clips, gallery.frames, ks,
        tolerance, metric, criterion, _poses_3d(query, criterion),
        _poses_3d(gallery, criterion),
        mpjpe_mm_threshold if criterion == MPJPE_MM else mpjpe_threshold)
    pairs[f'{query_view}->{gallery_view}'] = scores['hit']
    maps[f'{query_view}->{gallery_view}'] = scores['map']
  mean = {k: float(np.mean([rates[k] for rates in pairs.values()])) for k in ks}
  def mean_map(k):
    values = [m[k] for m in maps.values() if m[k] is not None]
    return float(np.mean(values)) if values else None
  return {'pairs': pairs, 'mean': mean, 'map': {'pairs': maps, 'mean': {k: mean_map(k) for k in ks}}}


def same_view_rate(embeddings_by_view: dict, frames_by_view: dict,
                   metric='l2') -> Optional[float]:
  """How often a frame's nearest neighbour among the other clips' frames of every view is
  from its own view (z_v's disentanglement check; chance is about 1 / number of views).

  Only frames that have a frame of another clip count. None when no frame has one (a single
  recording or clip): then there is nothing to measure the rate on.
  """
  views = sorted(embeddings_by_view)
  embeddings = np.concatenate([embeddings_by_view[v] for v in views]).astype(np.float64)
  labels = np.concatenate([np.full(len(embeddings_by_view[v]), i) for i, v in enumerate(views)])
  # Clip names as integer codes: comparing a block of them with every frame's is then a
  # comparison of integers, not of strings.
  _, clips = np.unique(np.concatenate([frames_by_view[v].clips for v in views]),
                       return_inverse=True)
  same = counted = 0
  for start in range(0, len(embeddings), _QUERY_BLOCK):
    block = slice(start, start + _QUERY_BLOCK)
    distances = _distances(embeddings[block], embeddings, metric)
    other_clip = clips[block, None] != clips[None]  # not the same performance
    distances[~other_clip] = np.inf
    has_other = np.any(other_clip, axis=-1)
    nearest = np.argmin(distances, axis=-1)
    same += int(np.sum((labels[nearest] == labels[block])[has_other]))
    counted += int(np.sum(has_other))
  return same / counted if counted else None


def evaluate_embedders(embedders_by_name: dict, frames_by_view: dict, ks=(1, 5, 10),
                       tolerance=0, metric='l2', criteria=(FRAME,),
                       mpjpe_threshold=NP_MPJPE_THRESHOLD,
                       mpjpe_mm_threshold=MPJPE_MM_THRESHOLD) -> dict:
  """Hit@k of each embedder (evaluation/embedders.py) for each criterion, and the
  same-camera rate of its view embedding (where it has one) and of its pose embedding.

  Returns {'views', 'num_queries_per_view', 'criteria', 'embedders': {name: {'hit_rates':
  {criterion: {'pairs', 'mean'}}, 'same_view_rate': {'view'?, 'pose'}}}, 'chance'}.
  """
  for criterion in criteria:
    _check(metric, criterion)
    if criterion != FRAME and not all(d.has_3d for d in frames_by_view.values()):
      raise errors.InputError(f'The {criterion} criterion needs 3D poses; these frames have none.')
  summary = {'views': sorted(frames_by_view), 'metric': metric, 'tolerance': tolerance,
             'mpjpe_threshold': mpjpe_threshold, 'mpjpe_mm_threshold': mpjpe_mm_threshold,
             'criteria': list(criteria),
             'num_queries_per_view': {v: len(d) for v, d in
                                      frames_by_view.items()},
             'chance': 1.0 / len(frames_by_view), 'embedders': {}}
  for name, embedder in embedders_by_name.items():
    pose, view = {}, {}
    for camera, data in frames_by_view.items():
      points = tf.constant(data.poses, tf.float32)
      pose[camera] = np.asarray(embedder.fn(points))
      if embedder.view_fn is not None:
        view[camera] = np.asarray(embedder.view_fn(points))
    result = {'hit_rates': {c: cross_view_hit_rates(pose, frames_by_view, ks, tolerance,
                                                    metric, c, mpjpe_threshold,
                                                    mpjpe_mm_threshold)
                            for c in criteria},
              'same_view_rate': {'pose': same_view_rate(pose, frames_by_view, metric)}}
    if view and next(iter(view.values())).shape[-1]:
      result['same_view_rate']['view'] = same_view_rate(view, frames_by_view, metric)
    summary['embedders'][name] = result
  return summary


def markdown(summary: dict, ks=(1, 5, 10)) -> str:
  """Two Markdown tables: mean Hit@k and mAP@k (%) per embedder and criterion with the
  same-camera rates, then Hit@1 of every ordered camera pair."""
  criteria = summary['criteria']
  lines = ['| embedder | criterion | ' + ' | '.join(f'Hit@{k}' for k in ks) + ' | '
           + ' | '.join(f'mAP@{k}' for k in ks) + ' | z_v same camera | z_p same camera |',
           '|---|---|' + '---|' * (2 * len(ks) + 2)]
  def percent(value):
    return '–' if value is None else f'{100 * value:.1f}'
  for name, result in summary['embedders'].items():
    rates = result['same_view_rate']
    for criterion in criteria:
      mean = result['hit_rates'][criterion]['mean']
      maps = result['hit_rates'][criterion].get('map', {}).get('mean', {})
      label = (f'frame ±{summary["tolerance"]}' if criterion == FRAME
               else f'NP-MPJPE ≤ {summary["mpjpe_threshold"]:g}' if criterion == POSE
               else f'MPJPE ≤ {summary.get("mpjpe_mm_threshold", MPJPE_MM_THRESHOLD):g} mm')
      lines.append(f'| {name} | {label} | '
                   + ' | '.join(percent(mean[k]) for k in ks) + ' | '
                   + ' | '.join(percent(maps.get(k)) for k in ks)
                   + f' | {percent(rates.get("view"))} | {percent(rates["pose"])} |')
  lines += ['', f'Same camera by chance: {100 * summary["chance"]:.0f} %. '
            f'Queries per camera: {min(summary["num_queries_per_view"].values())}'
            f'–{max(summary["num_queries_per_view"].values())}.', '']
  if any(r['same_view_rate']['pose'] is None for r in summary['embedders'].values()):
    lines[-1:-1] = [f'Same camera: – {NO_OTHER_CLIP}.']
  names = list(summary['embedders'])
  first = summary['embedders'][names[0]]['hit_rates'][criteria[0]]['pairs']
  lines += [f'Hit@{ks[0]} (%) per ordered camera pair ({criteria[0]} criterion):', '',
            '| query → gallery | ' + ' | '.join(names) + ' |',
            '|---|' + '---|' * len(names)]
  for pair in first:
    lines.append(f'| {pair.replace("->", " → ")} | ' + ' | '.join(
        percent(summary['embedders'][n]['hit_rates'][criteria[0]]['pairs'][pair][ks[0]])
        for n in names) + ' |')
  return '\n'.join(lines) + '\n'


