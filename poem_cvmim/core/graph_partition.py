"""ST-GCN's adjacency matrices of a skeleton graph (`keypoints.SkeletonGraph`).

Built exactly as the reference code (Yan et al., AAAI 2018, `net/utils/graph.py`) builds the
"spatial" strategy, so that a port trained here sees the same graph:

1. hop distances capped at `max_hop` (= 1): entries farther than that are infinite;
2. A = 1 where the hop distance is 0 or 1 (self links and bones), normalised by column sums,
   A D⁻¹ (each column of the normalised matrix sums to 1);
3. three subsets taken from that one normalised matrix: hop 0 (self links), then for hop 1
   the entries (j, i) where the centre is as far from j as from i, or j is farther ("root +
   close" in the reference), and the rest ("further").

Kept for fidelity, with what it implies: because the distances are capped at 1, every joint
more than one hop from the centre is "infinitely" far from it, so most bones compare
infinity with infinity and land in the first hop-1 subset; and the reference's names are
inverted ("close" holds the pairs whose j is farther from the centre). On the NTU-25 graph the
three matrices have 25, 40 and 8 non-zero entries.
"""

import numpy as np


def hop_distances(num_joints: int, edges, max_hop: int = 1) -> np.ndarray:
  """[V, V] graph distances in bones, np.inf beyond `max_hop` (the reference's cap)."""
  adjacency = np.zeros((num_joints, num_joints))
  for i, j in edges:
    adjacency[i, j] = adjacency[j, i] = 1
  distances = np.full((num_joints, num_joints), np.inf)
  reach = [np.linalg.matrix_power(adjacency + np.eye(num_joints), d) > 0
           for d in range(max_hop + 1)]
  for d in range(max_hop, -1, -1):
    distances[reach[d]] = d
  return distances


def normalize_columns(adjacency: np.ndarray) -> np.ndarray:
  """A D⁻¹ with D the column sums (columns with no entry stay zero)."""
  sums = adjacency.sum(axis=0)
  inverse = np.where(sums > 0, 1.0 / np.where(sums > 0, sums, 1.0), 0.0)
  return adjacency * inverse[np.newaxis, :]


def spatial_partition(graph, max_hop: int = 1) -> np.ndarray:
  """The [K, V, V] matrices of the spatial strategy (K = 3 for max_hop = 1), float32."""
  hops = hop_distances(graph.num_joints, graph.edges, max_hop)
  adjacency = (hops <= max_hop).astype(np.float64)
  normalized = normalize_columns(adjacency)
  to_center = hops[:, graph.center]
  subsets = []
  for hop in range(max_hop + 1):
    on_hop = hops == hop  # [j, i]
    root = on_hop & (to_center[:, None] == to_center[None, :])
    close = on_hop & (to_center[:, None] > to_center[None, :])
    further = on_hop & ~root & ~close
    if hop == 0:
      subsets.append(np.where(root, normalized, 0.0))
    else:
      subsets.append(np.where(root | close, normalized, 0.0))
      subsets.append(np.where(further, normalized, 0.0))
  return np.stack(subsets).astype(np.float32)
