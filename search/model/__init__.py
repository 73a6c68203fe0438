"""Using a trained model: export, evaluate, predict, and suggest where to click next."""
