"""The ``pointtune`` command line and what it shows on a terminal."""
