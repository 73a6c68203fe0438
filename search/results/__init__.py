"""Reading an experiment folder: trial records, tables, the frontier, the reference run, figures, importance."""
