"""``pointtune report``: one self-contained HTML file of a search or a training run."""
