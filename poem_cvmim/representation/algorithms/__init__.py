"""One module per representation-learning algorithm."""
