r"""Figure 4 of the paper: a query pose and its nearest neighbours in pose space (z_p, row 1)
and in view space (z_v, row 2), drawn as skeletons with the camera each came from.

  python -m experiments.figure4 --embedder=runs/cvmim \
      --sequences=out/quickstart/data/heldout_motion --output=out/figure4.png
  python -m experiments.figure4 --embedder=runs/cvmim --detections=my_rig --output=fig4.png

Pose-space neighbours come from the other cameras (the cross-view retrieval gallery): they
should show the query's pose seen from elsewhere. View-space neighbours come from the other
clips (every camera): they should show other poses seen from the query's camera. Writes the
PNG and a JSON of what each panel shows.
"""

import json
import os

from absl import app
from absl import flags
import numpy as np

from poem_cvmim.core import cli
from poem_cvmim.core import errors
from poem_cvmim.core import keypoints
from poem_cvmim.core import pose_inputs
from poem_cvmim.core import detections
from poem_cvmim.evaluation import embedders
from poem_cvmim.evaluation import frame_sources
from poem_cvmim.evaluation import retrieval

# Bones drawn: the skeleton graph's plus shoulder-shoulder and hip-hip.
_BONES = keypoints.COCO13_GRAPH.edges + ((1, 2), (7, 8))
_NAMES = keypoints.get_profile(keypoints.LEGACY_2DCOCO13).keypoint_names


def _bone_colour(i, j):
  names = _NAMES[i] + _NAMES[j]
  if 'LEFT' in names and 'RIGHT' not in names:
    return 'tab:blue'
  if 'RIGHT' in names and 'LEFT' not in names:
    return 'tab:red'
  return 'dimgray'


def draw_pose(axis, pose, title, highlight=False):
  """A normalised (y, x) pose as a skeleton, image orientation (y down); left limbs blue."""
  for i, j in _BONES:
    axis.plot([pose[i, 1], pose[j, 1]], [pose[i, 0], pose[j, 0]], color=_bone_colour(i, j),
              linewidth=2)
  axis.scatter(pose[:, 1], pose[:, 0], s=8, color='black', zorder=3)
  axis.set_xlim(-1.0, 1.0)
  axis.set_ylim(1.1, -1.3)
  axis.set_aspect('equal')
  axis.set_xticks([])
  axis.set_yticks([])
  axis.set_title(title, fontsize=7)
  if highlight:
    for spine in axis.spines.values():
      spine.set_color('darkorange')
      spine.set_linewidth(2.5)


def flatten(frames_by_view: dict) -> tuple:
  """All views' frames as one `Frames` (2D only) and the camera of each row."""
  views = sorted(frames_by_view)
  merged = retrieval.Frames.concat(
      frames_by_view[v].replace(filled=None, poses_3d=None, poses_3d_mm=None) for v in views)
  return merged, np.concatenate([np.full(len(frames_by_view[v]), v) for v in views])


def neighbours(embeddings, frames, cameras, query, k=5, space='pose'):
  """Indices of the k nearest frames (L2) to frame `query` among the other cameras' frames
  (`pose`) or the other clips' frames (`view`; all of them when there is one clip)."""
  distances = np.linalg.norm(embeddings - embeddings[query], axis=-1)
  if space == 'pose':
    excluded = cameras == cameras[query]
  else:
    excluded = frames.clips == frames.clips[query]
    if excluded.all():  # one recording: the query's own neighbourhood in time is excluded
      excluded = np.arange(len(distances)) == query
  distances[excluded] = np.inf
  return np.argsort(distances, kind='stable')[:k]


def figure(frames, cameras, pose_embeddings, view_embeddings, queries, k=5):
  """The matplotlib figure and a description {query: {'pose': [...], 'view': [...]}}."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(2 * len(queries), k + 1, figsize=(1.6 * (k + 1),
                                                             3.4 * len(queries)))
  axes = np.atleast_2d(axes)
  described = []
  def label(i):
    return f'{cameras[i]}\n{frames.clips[i]} f{frames.frames[i]}'
  for row, query in enumerate(queries):
    entry = {'query': label(query).replace('\n', ' ')}
    for space, embeddings in enumerate((pose_embeddings, view_embeddings)):
      axis_row = axes[2 * row + space]
      draw_pose(axis_row[0], frames.poses[query], 'query\n' + label(query), highlight=True)
      found = neighbours(embeddings, frames, cameras, query, k, 'pose' if space == 0 else 'view')
      for column, index in enumerate(found, start=1):
        draw_pose(axis_row[column], frames.poses[index], f'#{column} ' + label(index))
      axis_row[0].set_ylabel('pose space (z_p)' if space == 0 else 'view space (z_v)',
                             fontsize=8)
      entry['pose' if space == 0 else 'view'] = [label(i).replace('\n', ' ') for i in found]
    described.append(entry)
  fig.suptitle('Nearest neighbours of a query in pose space (z_p) and view space (z_v); '
               'left limbs blue, right red', fontsize=9)
  fig.tight_layout()
  return fig, described


FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string('embedder', None, 'A training directory or SavedModel (with z_v).')
  flags.DEFINE_string('sequences', None, 'A sequence record directory with several views.')
  flags.DEFINE_string('split', 'test', 'The split of --sequences.')
  flags.DEFINE_string('detections', None, 'A folder with one sub-folder or file per camera.')
  flags.DEFINE_string('pairs', None, 'A file pattern of pair records (e.g. converted Human3.6M '
                      'S9/S11, as in the paper): one view per camera.')
  flags.DEFINE_enum('format', 'auto', detections.FORMATS, 'Detector output format.')
  flags.DEFINE_list('image_size', None, 'HEIGHT,WIDTH when detections are in [0, 1] units.')
  cli.register_check('image_size', pose_inputs.parse_image_size)
  flags.DEFINE_integer('num_queries', 3, 'Queries drawn (two rows each).', lower_bound=1)
  flags.DEFINE_integer('k', 5, 'Neighbours a row.', lower_bound=1)
  flags.DEFINE_integer('frame_stride', 2, 'Use every n-th frame.', lower_bound=1)
  flags.DEFINE_integer('seed', 0, 'Picks the queries.')
  flags.DEFINE_string('output', 'figure4.png', 'The PNG to write (and a .json beside it).')


def main(argv):
  del argv
  if not FLAGS.embedder or [bool(FLAGS.sequences), bool(FLAGS.detections),
                            bool(FLAGS.pairs)].count(True) != 1:
    raise app.UsageError('Give --embedder and one of --sequences, --detections and --pairs.')
  if FLAGS.sequences:
    by_view = frame_sources.load_multiview_frames(FLAGS.sequences, FLAGS.split, FLAGS.frame_stride)
  elif FLAGS.pairs:
    by_view = frame_sources.load_pair_frames(FLAGS.pairs, FLAGS.frame_stride)
  else:
    by_view = detections.read_rig_directory(
        FLAGS.detections, FLAGS.format, image_size=pose_inputs.parse_image_size(FLAGS.image_size))
  embedder = embedders.load_embedder(FLAGS.embedder)
  if embedder.view_fn is None:
    raise errors.InputError(f'{FLAGS.embedder} has no view embedding (z_v): Figure 4 needs one.')
  frames, cameras = flatten(by_view)
  points = frames.poses.astype(np.float32)
  pose, view = np.asarray(embedder.fn(points)), np.asarray(embedder.view_fn(points))
  queries = np.random.default_rng(FLAGS.seed).choice(len(points), FLAGS.num_queries,
                                                     replace=False)
  fig, described = figure(frames, cameras, pose, view, queries, FLAGS.k)
  os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
  fig.savefig(FLAGS.output, dpi=120)
  with open(os.path.splitext(FLAGS.output)[0] + '.json', 'w') as f:
    json.dump(described, f, indent=2)
  for entry in described:
    print(f'query {entry["query"]}\n  pose space: {"; ".join(entry["pose"])}\n'
          f'  view space: {"; ".join(entry["view"])}')
  print(f'Wrote {FLAGS.output}')


if __name__ == '__main__':
  cli.run(main, define_flags, tensorflow=True)
