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


def _periodic_clip():
  """One clip of a periodic motion (period 20 frames) seen by cameras c0/c1 at frames 0, 10,
  20, 30, and one other clip: frames 0 and 20 (and 10 and 30) repeat the pose."""
  rng = np.random.default_rng(3)
  cycle = {0: rng.normal(size=(17, 3)), 10: rng.normal(size=(17, 3))}
  frames = np.array([0, 10, 20, 30, 0])
  poses = np.stack([cycle[f % 20] for f in frames[:4]] + [rng.normal(size=(17, 3))])
  clips = np.array(['walk', 'walk', 'walk', 'walk', 'other'])
  return clips, frames, poses


def test_repeated_poses_in_3d_are_found_in_a_periodic_clip():
  clips, frames, poses = _periodic_clip()
  anchors = poses + np.random.default_rng(4).normal(scale=0.001, size=poses.shape)
  expected = np.array([[i != j and procrustes.procrustes_aligned_mpjpe(
      anchors[i][None], poses[j][None]).numpy()[0] < 0.1 for j in range(5)] for i in range(5)])
  found = mining.close_poses_3d(anchors, poses, 0.1).numpy()
  np.testing.assert_array_equal(found, expected)
  assert found[0, 2] and found[1, 3] and not found[0, 1]
  # Measured on candidates only: the same decisions there, nothing elsewhere.
  candidates = mining.same_clip(clips).numpy()
  np.testing.assert_array_equal(mining.close_poses_3d(anchors, poses, 0.1, candidates).numpy(),
                                expected & candidates)


def test_repeated_poses_in_2d_need_one_camera_and_one_clip():
  rng = np.random.default_rng(5)
  anchors, positives_ = rng.normal(scale=0.3, size=(2, 4, 13, 2))
  positives_[2] = anchors[0] + 0.01  # row 2's positive: row 0's anchor pose again
  anchors[3] = anchors[0] + 0.01     # row 3's anchor too, but seen by another camera
  cameras = np.array([['c0', 'c1'], ['c0', 'c1'], ['c1', 'c0'], ['c2', 'c1']])
  cameras = np.unique(cameras, return_inverse=True)[1].reshape(cameras.shape)
  clips = np.array([7, 7, 7, 8])
  views = (anchors, positives_)

  def close(i, j):
    return i != j and clips[i] == clips[j] and any(
        cameras[i, u] == cameras[j, v]
        and np.linalg.norm(views[u][i] - views[v][j], axis=-1).mean() < 0.06
        for u in (0, 1) for v in (0, 1))
  expected = np.array([[close(i, j) for j in range(4)] for i in range(4)])
  found = mining.close_poses_2d(anchors, positives_, cameras, clips, 0.06).numpy()
  np.testing.assert_array_equal(found, expected)
  assert found[0, 2] and found[2, 0] and not found[0, 3] and not found[0, 1]
  np.testing.assert_allclose(mining.pose_distances_2d(anchors, positives_).numpy(),
                             [[np.linalg.norm(a - p, axis=-1).mean() for p in positives_]
                              for a in anchors], rtol=1e-6)


@pytest.mark.parametrize('others', [1.0, 0.0])
def test_temporal_negative_weights_of_a_periodic_clip(others):
  clips, frames, poses = _periodic_clip()
  # Cameras of each row's (anchor, positive); row 2's pair is the other way round.
  cameras = np.array([[0, 1], [0, 1], [1, 0], [0, 1], [-1, 1]])  # -1: a virtual camera
  repeated = mining.close_poses_3d(poses, poses, 0.1).numpy()
  for local, global_ in ((0, 1), (0, 0), (1, 0)):
    found = mining.temporal_negative_weights(
        clips, frames, cameras[:, local], cameras[:, global_], 10, 5, repeated, 4.0,
        others).numpy()
    def expected(i, j):
      if i == j or repeated[i, j] or (clips[i] == clips[j] and abs(frames[i] - frames[j]) < 5):
        return 0.0
      if (clips[i] == clips[j] and abs(frames[i] - frames[j]) >= 10
          and cameras[i, local] == cameras[j, global_] >= 0):
        return 4.0
      return others
    np.testing.assert_array_equal(found, [[expected(i, j) for j in range(5)] for i in range(5)])
  # Anchors of the walk (all camera 0 but row 2's): frames 10 apart in one camera are hard
  # negatives; 20 apart repeat the pose: left out; the other clip stays ordinary.
  anchors = mining.temporal_negative_weights(clips, frames, cameras[:, 0], cameras[:, 0], 10, 5,
                                             repeated, 4.0, others).numpy()
  assert anchors[0, 1] == 4.0 and anchors[0, 2] == 0.0 and anchors[0, 4] == others
  assert anchors[1, 2] == others  # 10 frames apart, but row 2's anchor is camera 1


def test_the_camera_scope_adds_other_clips_seen_by_the_same_camera():
  clips, frames, poses = _periodic_clip()
  cameras = np.array([0, 0, 1, 0, 0])
  repeated = mining.close_poses_3d(poses, poses, 0.1).numpy()
  clip_scope = mining.temporal_negative_weights(clips, frames, cameras, cameras, 10, 5, repeated,
                                                4.0).numpy()
  camera_scope = mining.temporal_negative_weights(clips, frames, cameras, cameras, 10, 5,
                                                  repeated, 4.0, scope='camera').numpy()
  other = clips != clips[:, None]
  same_camera = cameras == cameras[:, None]
  np.testing.assert_array_equal(camera_scope[~other], clip_scope[~other])
  np.testing.assert_array_equal(camera_scope[other], np.where(same_camera, 4.0, 1.0)[other])
  with pytest.raises(errors.InputError, match="Unknown hard negative scope 'subject'"):
    mining.temporal_negative_weights(clips, frames, cameras, cameras, 10, 5, scope='subject')
  # Without 3D, one fixed camera across recordings: repeated 2D poses of any clip.
  anchors = np.stack([poses[:, :13, :2], poses[:, :13, :2]], axis=1)[:, 0]
  anchors[4] = anchors[0] + 0.001
  pairs = np.stack([cameras, cameras + 5], axis=1)
  within = mining.close_poses_2d(anchors, anchors, pairs, clips, 0.06).numpy()
  across = mining.close_poses_2d(anchors, anchors, pairs, clips, 0.06, within_clip=False).numpy()
  assert not within[0, 4] and across[0, 4] and across[0, 2] == within[0, 2]
