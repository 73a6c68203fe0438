"""Point labels: clicks simulated from dense masks, read from users' files, cached per node."""
