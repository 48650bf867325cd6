"""Library core: skeleton, records, shards, cameras, distribution, the training loop."""
