"""Evaluation: embedders, feature extraction, retrieval, tables."""
