"""Neural-network parts the systems share: attention, feature encoders, sampling, checkpoints,
and the one training loop."""
