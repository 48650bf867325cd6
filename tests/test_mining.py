"""The [B, B] masks of `representation/mining.py` against NumPy loops, on hand-made batches:
two clips, frames close and far in time, a repeated frame index, string and integer clip ids."""

import numpy as np
import pytest

from poem_cvmim.core import errors
from poem_cvmim.core import procrustes
from poem_cvmim.representation import mining

# Rows: clip a at frames 0, 2, 10, 30; clip b at frames 0, 2 (frame 0 exists in both clips).
CLIPS = np.array(['a', 'a', 'a', 'a', 'b', 'b'])
FRAMES = np.array([0, 2, 10, 30, 0, 2])


def _loop(predicate):
  n = len(CLIPS)
  return np.array([[predicate(i, j) for j in range(n)] for i in range(n)])


def test_positives_are_the_diagonal():
  np.testing.assert_array_equal(mining.positives(4).numpy(), np.eye(4, dtype=bool))


@pytest.mark.parametrize('clips', [CLIPS, np.unique(CLIPS, return_inverse=True)[1]])
@pytest.mark.parametrize('gap', [1, 5, 25])
def test_temporal_negatives_are_the_same_clip_at_least_the_gap_apart(clips, gap):
  expected = _loop(lambda i, j: CLIPS[i] == CLIPS[j] and abs(FRAMES[i] - FRAMES[j]) >= gap)
  np.testing.assert_array_equal(mining.temporal_negatives(clips, FRAMES, gap).numpy(), expected)
  assert not np.any(np.diag(expected))  # a row is never its own negative


@pytest.mark.parametrize('gap', [0, 3, 11])
def test_ignored_pairs_are_close_in_one_clip_and_never_the_positive(gap):
  expected = _loop(lambda i, j: i != j and CLIPS[i] == CLIPS[j]
                   and abs(FRAMES[i] - FRAMES[j]) < gap)
  np.testing.assert_array_equal(mining.ignored(CLIPS, FRAMES, gap).numpy(), expected)
  negatives = mining.temporal_negatives(CLIPS, FRAMES, max(gap, 1)).numpy()
  assert not np.any(negatives & expected)  # with negative_gap >= ignore_gap they never meet


def test_gaps_out_of_range_are_refused():
  with pytest.raises(errors.InputError, match='negative_gap must be at least 1, got 0'):
    mining.temporal_negatives(CLIPS, FRAMES, 0)
  with pytest.raises(errors.InputError, match='ignore_gap must be >= 0, got -1'):
    mining.ignored(CLIPS, FRAMES, -1)


def test_pose_negatives_are_pr_vipes_np_mpjpe_rule():
  rng = np.random.default_rng(0)
  anchors = rng.normal(size=(5, 17, 3))
  positives = anchors + rng.normal(scale=0.05, size=anchors.shape)
  positives[3] = anchors[1]  # a far-away row that repeats another's pose: not a negative
  threshold = 0.1
  expected = np.array([[procrustes.procrustes_aligned_mpjpe(
      anchors[i][None], positives[j][None]).numpy()[0] >= threshold for j in range(5)]
                       for i in range(5)])
  found = mining.pose_negatives(anchors, positives, threshold).numpy()
  np.testing.assert_array_equal(found, expected)
  assert not found[1, 3] and found[0, 3]
