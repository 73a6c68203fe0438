"""Point labels: clicks simulated from dense masks (per object or density), as training labels per node."""
