"""Using a trained model: export, evaluate, predict."""
