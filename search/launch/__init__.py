"""Starting a search (checks, Ray, the Tuner and the Optuna searcher) or a single training run, what it shows on a
terminal while it runs (``console``, ``progress``, ``live_view``, ``train_progress``) and the summary and
TensorBoard files it leaves."""
