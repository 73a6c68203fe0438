"""Starting a search (checks, Ray, the Tuner and the Optuna searcher) or a single training run."""
