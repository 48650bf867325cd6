"""TensorFlow, imported the first time one of its attributes is read.

Converter workers parse text and encode records (core.example_wire) in processes of their own
and never need TensorFlow, whose import costs seconds and hundreds of MB per process. The core
modules they import (keypoints, records, shards, cli) refer to `tf` from here, so importing
them loads no TensorFlow; their TensorFlow paths load it on first use, in whichever process
runs them.
"""

import importlib


class _TensorFlow:
  """Reads attributes of the `tensorflow` module, importing it on the first read."""

  def __getattr__(self, name):
    value = getattr(importlib.import_module('tensorflow'), name)
    setattr(self, name, value)  # later reads find it here and skip this method
    return value

  def __repr__(self):
    return '<tensorflow, imported on first use>'


tf = _TensorFlow()
