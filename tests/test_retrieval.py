"""Cross-view retrieval: Hit@k on hand-made cases and against a plain-Python computation."""

import numpy as np
import pytest

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


def test_same_view_rate_and_clip_ids():
  frames = {v: {'clips': np.array(['c0', 'c1']), 'frames': np.array([0, 0])}
            for v in ('back', 'front')}
  # The view embedding separates views perfectly: every nearest other-clip frame shares it.
  embeddings = {'back': np.array([[0.0], [0.1]]), 'front': np.array([[5.0], [5.1]])}
  assert retrieval.same_view_rate(embeddings, frames) == 1.0
  mixed = {'back': np.array([[0.0], [5.0]]), 'front': np.array([[5.1], [0.1]])}
  assert retrieval.same_view_rate(mixed, frames) == 0.0
  assert retrieval.clip_id('S07_A03_001_front', 'front') == 'S07_A03_001'
