"""Action recognition: temporal classifiers, their training, protocols."""
