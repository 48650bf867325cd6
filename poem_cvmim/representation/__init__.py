"""Representation learning: pair pipeline, networks, losses, algorithms, trainer, export."""
