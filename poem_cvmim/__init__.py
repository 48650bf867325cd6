"""poem_cvmim: CV-MIM view-disentangled pose representations in TensorFlow 2 / Keras 3."""

import os

# Keep TensorFlow's C++ start-up chatter out of users' terminals unless they ask for it.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
