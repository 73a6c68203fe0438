"""The network and how it learns: model and weights, losses, loop, metrics, schedule, checkpoints, the
pseudo-labels of a self-training stage."""
