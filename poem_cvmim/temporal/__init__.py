"""Temporal models over keypoint sequences: TDMI's temporal-difference encoder and
disentanglement, the keypoint refiner built on them, its detector model and classic filters
(docs/tdmi.md)."""
