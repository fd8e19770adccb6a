"""Training building blocks: the learning-rate schedule, AdamW groups and checkpoints."""
