"""TensorFlow, imported the first time one of its attributes is read.

Converter workers parse text and encode records (core.example_wire) in processes of their own
and never need TensorFlow, whose import costs seconds and hundreds of MB per process. The core
modules they import (keypoints, records, shards, cli) bind `tf = lazy_tensorflow.deferred`, so
importing them loads no TensorFlow; their TensorFlow paths load it on first use, in whichever
process runs them. `deferred` is not the module: it forwards every attribute read to it (and
holds no state of its own: the import system keeps the one module).
"""

import importlib


class _DeferredTensorFlow:
  """Reads attributes of the `tensorflow` module, importing it on the first read."""

  __slots__ = ()

  def __getattr__(self, name):
    # After the first import this is a look-up in sys.modules.
    return getattr(importlib.import_module('tensorflow'), name)

  def __repr__(self):
    return '<tensorflow, imported on first attribute read>'


deferred = _DeferredTensorFlow()
