"""pointtune's search: Ray Tune + Optuna over learning rate, point density and epochs; results, export, predict."""
