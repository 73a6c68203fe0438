"""The ``pointtune`` command line and what it shows on a terminal: ``main`` (the entry point), ``parser`` and
``tools`` (the commands' flags, built by ``flags`` from ``trainable.defaults``), ``config_file`` (``--config``),
``commands`` (what each command runs), ``readme_tables`` (README's generated tables), ``live_view``/``progress``."""
