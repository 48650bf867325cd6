"""poem_cvmim: CV-MIM view-disentangled pose representations in TensorFlow 2 / Keras 3."""
