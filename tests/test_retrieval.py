"""Cross-view retrieval: Hit@k on hand-made cases and against a plain-Python computation."""

import numpy as np
import pytest

from poem_cvmim.core import keypoints
from poem_cvmim.evaluation import frame_sources
from poem_cvmim.evaluation import retrieval


def test_hit_rates_on_a_hand_made_case_with_ties_and_tolerance():
  gallery = np.array([[0.0], [1.0], [1.0], [5.0]])
  gallery_clips = np.array(['a', 'b', 'a', 'a'])
  gallery_frames = np.array([0, 3, 3, 10])
  queries = np.array([[1.0], [4.0]])
  query_clips, query_frames = np.array(['a', 'a']), np.array([4, 10])
  # Query 0: the tie at distance 0 goes to gallery item 1 (clip b): no hit at 1; item 2 is
  # clip a, frame 3, within a tolerance of 1 of frame 4: a hit at 2.
  # Query 1: nearest is item 3 (distance 1, clip a, frame 10): a hit at 1.
  rates = retrieval.hit_rates(queries, query_clips, query_frames, gallery, gallery_clips,
                              gallery_frames, ks=(1, 2), tolerance=1)
  assert rates == {1: 0.5, 2: 1.0}
  strict = retrieval.hit_rates(queries, query_clips, query_frames, gallery, gallery_clips,
                               gallery_frames, ks=(1, 2), tolerance=0)
  assert strict == {1: 0.5, 2: 0.5}


def _brute_force(queries, query_clips, query_frames, gallery, gallery_clips, gallery_frames,
                 k, tolerance):
  hits = 0
  for q, clip, frame in zip(queries, query_clips, query_frames):
    distances = [float(np.linalg.norm(q - g)) for g in gallery]
    order = sorted(range(len(gallery)), key=lambda i: (distances[i], i))[:k]
    hits += any(gallery_clips[i] == clip and abs(gallery_frames[i] - frame) <= tolerance
                for i in order)
  return hits / len(queries)


@pytest.mark.parametrize('tolerance', [0, 2])
def test_hit_rates_equal_a_plain_python_computation(tolerance):
  rng = np.random.default_rng(0)
  gallery = rng.normal(size=(300, 4))
  gallery_clips = rng.choice(['a', 'b', 'c'], size=300)
  gallery_frames = rng.integers(0, 30, size=300)
  queries = gallery[:120] + rng.normal(scale=0.5, size=(120, 4))
  query_clips, query_frames = gallery_clips[:120], gallery_frames[:120]
  rates = retrieval.hit_rates(queries, query_clips, query_frames, gallery, gallery_clips,
                              gallery_frames, ks=(1, 5), tolerance=tolerance)
  for k in (1, 5):
    assert rates[k] == pytest.approx(_brute_force(queries, query_clips, query_frames, gallery,
                                                  gallery_clips, gallery_frames, k, tolerance))
  assert 0.0 < rates[1] < rates[5] <= 1.0


def test_map_at_k_on_a_hand_made_case_with_ties_and_a_query_without_a_match():
  gallery = np.array([[0.0], [1.0], [1.0], [2.0], [3.0]])
  gallery_clips = np.array(['a', 'b', 'a', 'a', 'a'])
  gallery_frames = np.array([4, 4, 4, 5, 9])
  queries = np.array([[1.0], [0.0]])
  query_clips, query_frames = np.array(['a', 'c']), np.array([4, 0])
  # Query 0 (clip a, frame 4, tolerance 1): matches are items 0, 2, 3 (R = 3). Ranked by
  # distance with ties in gallery order: 1 (no), 2 (yes), 0 (yes: distance 1, after the tie of
  # items 1 and 2 at 0), 3 (yes), 4 (no): AP@1 = 0, AP@2 = (1/2) / 2,
  # AP@3 = (1/2 + 2/3) / 3, AP@5 = (1/2 + 2/3 + 3/4) / 3. Query 1 (clip c) has no match: a miss in
  # Hit@k, left out of mAP@k.
  scores = retrieval.retrieval_scores(queries, query_clips, query_frames, gallery,
                                      gallery_clips, gallery_frames, ks=(1, 2, 3, 5),
                                      tolerance=1)
  assert scores['queries_with_match'] == 1
  assert scores['hit'] == {1: 0.0, 2: 0.5, 3: 0.5, 5: 0.5}
  expected = {1: 0.0, 2: 0.25, 3: (1 / 2 + 2 / 3) / 3, 5: (1 / 2 + 2 / 3 + 3 / 4) / 3}
  assert scores['map'] == pytest.approx(expected)
  none = retrieval.retrieval_scores(queries[1:], query_clips[1:], query_frames[1:], gallery,
                                    gallery_clips, gallery_frames, ks=(1,))
  assert none['map'] == {1: None} and none['queries_with_match'] == 0


def _numpy_average_precision(distances, relevant, k):
  order = np.argsort(distances, kind='stable')[:k]
  hits, total = 0, 0.0
  for rank, index in enumerate(order, start=1):
    if relevant[index]:
      hits += 1
      total += hits / rank
  return total / min(k, int(relevant.sum()))


@pytest.mark.parametrize('criterion', [retrieval.FRAME, retrieval.POSE])
def test_map_at_k_equals_a_numpy_loop(criterion):
  rng = np.random.default_rng(7)
  gallery = rng.integers(0, 4, size=(60, 2)).astype(np.float64)  # many tied distances
  gallery_clips = rng.choice(['a', 'b'], size=60)
  gallery_frames = rng.integers(0, 12, size=60)
  gallery_3d = rng.normal(scale=0.3, size=(60, 17, 3))
  queries = gallery[:25] + rng.integers(0, 2, size=(25, 2))
  query_3d = gallery_3d[:25] + rng.normal(scale=0.05, size=(25, 17, 3))
  scores = retrieval.retrieval_scores(queries, gallery_clips[:25], gallery_frames[:25], gallery,
                                      gallery_clips, gallery_frames, ks=(1, 5, 60), tolerance=1,
                                      criterion=criterion, query_3d=query_3d,
                                      gallery_3d=gallery_3d, mpjpe_threshold=0.15)
  expected = {k: [] for k in (1, 5, 60)}
  for i in range(25):
    if criterion == retrieval.FRAME:
      relevant = ((gallery_clips == gallery_clips[i])
                  & (np.abs(gallery_frames - gallery_frames[i]) <= 1))
    else:
      relevant = retrieval.aligned_mpjpe(np.repeat(query_3d[i:i + 1], 60, 0), gallery_3d) <= 0.15
    if relevant.any():
      for k in expected:
        expected[k].append(_numpy_average_precision(
            np.linalg.norm(gallery - queries[i], axis=-1), relevant, k))
  assert scores['queries_with_match'] == len(expected[1]) > 0
  for k, values in expected.items():
    assert scores['map'][k] == pytest.approx(np.mean(values), rel=1e-12)
  # Hit@k is what it was without mAP.
  assert scores['hit'] == retrieval.hit_rates(
      queries, gallery_clips[:25], gallery_frames[:25], gallery, gallery_clips, gallery_frames,
      ks=(1, 5, 60), tolerance=1, criterion=criterion, query_3d=query_3d, gallery_3d=gallery_3d,
      mpjpe_threshold=0.15)


@pytest.mark.parametrize('k', [1, 3, 10, 12])
def test_nearest_indices_equal_a_stable_full_sort(k):
  """The partial partition gives the full stable sort's first k, with ties across the cut,
  ties inside it, repeated rows and NaN distances."""
  rng = np.random.default_rng(5)
  distances = rng.integers(0, 6, size=(40, 12)).astype(np.float64)  # many ties
  distances[:10] = rng.normal(size=(10, 12))  # rows without ties
  distances[10, :] = 2.0
  distances[11, 3] = np.nan
  distances[12, :] = np.nan
  expected = np.argsort(distances, axis=-1, kind='stable')[:, :k]
  np.testing.assert_array_equal(retrieval.nearest_indices(distances, k), expected)


def test_same_view_rate_and_clip_ids():
  frames = {v: retrieval.Frames(poses=np.zeros((2, 13, 2)), clips=np.array(['c0', 'c1']),
                                frames=np.array([0, 0])) for v in ('back', 'front')}
  # The view embedding separates views perfectly: every nearest other-clip frame shares it.
  embeddings = {'back': np.array([[0.0], [0.1]]), 'front': np.array([[5.0], [5.1]])}
  assert retrieval.same_view_rate(embeddings, frames) == 1.0
  mixed = {'back': np.array([[0.0], [5.0]]), 'front': np.array([[5.1], [0.1]])}
  assert retrieval.same_view_rate(mixed, frames) == 0.0
  assert frame_sources.clip_id('S07_A03_001_front', 'front') == 'S07_A03_001'


def _numpy_aligned_mpjpe(target, source):
  """Procrustes (rotation without reflection, scale, translation) in plain NumPy."""
  t, s = target - target.mean(0), source - source.mean(0)
  u, sigma, vt = np.linalg.svd(s.T @ t)
  d = np.sign(np.linalg.det(u @ vt))
  correction = np.diag([1.0] * (len(sigma) - 1) + [d])
  rotation = u @ correction @ vt
  scale = np.sum(sigma * np.diag(correction)) / np.sum(s ** 2)
  aligned = scale * s @ rotation + target.mean(0)
  return float(np.mean(np.linalg.norm(aligned - target, axis=-1)))


def _rotation(rng):
  q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
  return q * np.sign(np.linalg.det(q))


def test_pose_criterion_counts_an_aligned_match_not_the_instant():
  rng = np.random.default_rng(3)
  pose = rng.normal(size=(17, 3))
  other = rng.normal(size=(17, 3))
  # Gallery: [another pose (nearest embedding), the query's pose rotated, scaled, moved].
  gallery_3d = np.stack([other, 2.5 * pose @ _rotation(rng) + 4.0])
  gallery = np.array([[0.1], [0.3]])
  clips, frames = np.array(['x', 'y']), np.array([0, 0])
  args = (np.array([[0.0]]), np.array(['q']), np.array([0]), gallery, clips, frames)
  rates = retrieval.hit_rates(*args, ks=(1, 2), criterion=retrieval.POSE,
                              query_3d=pose[None], gallery_3d=gallery_3d)
  assert rates == {1: 0.0, 2: 1.0}
  # By the instant it is never a hit (other clips).
  assert retrieval.hit_rates(*args, ks=(1, 2)) == {1: 0.0, 2: 0.0}
  with pytest.raises(ValueError, match='3D poses'):
    retrieval.hit_rates(*args, ks=(1,), criterion=retrieval.POSE)


def test_pose_criterion_equals_a_numpy_computation():
  rng = np.random.default_rng(4)
  base = rng.normal(size=(6, 17, 3))
  gallery_3d = np.concatenate([base[i % 6][None] + rng.normal(scale=0.03, size=(1, 17, 3))
                               for i in range(60)])
  query_3d = base[rng.integers(0, 6, 25)] + rng.normal(scale=0.03, size=(25, 17, 3))
  gallery, queries = rng.normal(size=(60, 3)), rng.normal(size=(25, 3))
  rates = retrieval.hit_rates(queries, np.zeros(25), np.zeros(25), gallery, np.ones(60),
                              np.zeros(60), ks=(1, 3), criterion=retrieval.POSE,
                              query_3d=query_3d, gallery_3d=gallery_3d, mpjpe_threshold=0.1)
  for k in (1, 3):
    hits = 0
    for q in range(25):
      order = np.argsort(np.linalg.norm(gallery - queries[q], axis=-1), kind='stable')[:k]
      hits += any(_numpy_aligned_mpjpe(query_3d[q], gallery_3d[g]) <= 0.1 for g in order)
    assert rates[k] == pytest.approx(hits / 25)
  assert 0.0 < rates[1] < rates[3] < 1.0


def test_evaluate_embedders_and_markdown_on_a_tiny_rig():
  from poem_cvmim.evaluation import embedders
  rng = np.random.default_rng(5)
  poses = rng.normal(size=(8, 13, 2)).astype(np.float32)
  frames = {camera: retrieval.Frames(poses=poses + (0.0 if camera == 'a' else 0.01),
                                     clips=np.array(['c0'] * 4 + ['c1'] * 4),
                                     frames=np.arange(8) % 4)
            for camera in ('a', 'b')}
  raw = embedders.load_embedder('raw')
  viewed = embedders.Embedder('viewed', 26, raw.fn,
                              lambda x: np.full((len(x), 1), float(x[0, 0, 0] > 0)))
  summary = retrieval.evaluate_embedders({'raw': raw, 'viewed': viewed}, frames, ks=(1, 2))
  assert summary['embedders']['raw']['hit_rates']['frame']['mean'] == {1: 1.0, 2: 1.0}
  assert 'view' not in summary['embedders']['raw']['same_view_rate']
  table = retrieval.markdown(summary, ks=(1, 2))
  assert '| raw | frame ±0 | 100.0 | 100.0 | 100.0 | 100.0 | – |' in table
  assert '| a → b | 100.0 | 100.0 |' in table
  with pytest.raises(ValueError, match='3D poses'):
    retrieval.evaluate_embedders({'raw': raw}, frames, criteria=('pose',))


def test_the_mpjpe_criterion_compares_root_relative_3d_in_the_records_unit():
  rng = np.random.default_rng(9)
  gallery_3d = rng.normal(scale=200.0, size=(30, 17, 3)) + 1000.0  # mm, anywhere in the room
  gallery = rng.normal(size=(30, 3))
  query_3d = gallery_3d[:10] + rng.normal(scale=20.0, size=(10, 17, 3)) + 500.0  # moved
  queries = gallery[:10] + rng.normal(scale=0.1, size=(10, 3))
  relative = lambda p: frame_sources.root_relative_3d(p)
  scores = retrieval.retrieval_scores(queries, np.zeros(10), np.zeros(10), gallery, np.ones(30),
                                      np.zeros(30), ks=(1, 3), criterion=retrieval.MPJPE_MM,
                                      query_3d=relative(query_3d), gallery_3d=relative(gallery_3d),
                                      mpjpe_threshold=40.0)
  errors_ = np.mean(np.linalg.norm(relative(query_3d)[:, None] - relative(gallery_3d)[None],
                                   axis=-1), axis=-1)
  nearest = np.argsort(np.linalg.norm(queries[:, None] - gallery[None], axis=-1), kind='stable')
  expected = {k: np.mean([np.any(errors_[i, nearest[i, :k]] <= 40.0) for i in range(10)])
              for k in (1, 3)}
  assert scores['hit'] == pytest.approx(expected)
  assert 0 < expected[1]  # the moved copy of the same pose is a match: translation is removed
  hip = list(keypoints.get_profile('LEGACY_3DH36M17').keypoint_names).index('Hip')
  np.testing.assert_allclose(relative(gallery_3d)[:, hip], 0.0)
