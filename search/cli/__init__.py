"""The ``pointtune`` command line: ``main`` (the entry point), ``parser`` and ``tools`` (the commands' flags, built
by ``flags`` from ``trainable.defaults``), ``config_file`` (``--config``), ``commands`` (what each command runs),
``failures`` (how a failure is said), ``readme_tables`` (the docs' generated tables)."""
