"""Reading an experiment folder: trial records, tables, the frontier, figures, TensorBoard files."""
