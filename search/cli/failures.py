"""What a command says when it stops on an error: one line, never a traceback.

- A mistake of the user's (``search.errors.USER_ERRORS``: a setting, the data, a model file, the storage) is said in
  its own words.
- A file the system refuses (``OSError`` naming a file: permission, a read-only or full disk, a symbolic-link loop)
  is said with the file and what to do, and the log of where it was opened named (a path of pointtune's own, not
  the user's, would be a bug).
- Memory running out is said with the settings that use it.
- Anything else is a bug: one line says so and names the log file that holds the traceback (with ``-v`` the
  traceback is printed too).
"""

from __future__ import annotations

import datetime
import errno
import os
import platform
import sys
import traceback
from pathlib import Path

from search.errors import USER_ERRORS

EXIT_USAGE = 2  # the user's to fix
EXIT_INTERNAL = 70  # a bug (sysexits' EX_SOFTWARE)
EXIT_INTERRUPTED = 130
# what to do about a file the system refused, by errno
WHAT_TO_DO = {
    errno.EACCES: "check its permissions, or give a path you can read (or write)",
    errno.EPERM: "check its permissions, or give a path you can read (or write)",
    errno.EROFS: "it is on a read-only file system: give a path on a writable one",
    errno.ENOSPC: "the disk is full: free some space, or write elsewhere",
    errno.EDQUOT: "your disk quota is used up: free some space, or write elsewhere",
    errno.ELOOP: "a symbolic link there points back at itself: fix the link",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder: check the path",
    errno.EISDIR: "it is a folder: give a file",
    errno.ENAMETOOLONG: "give a shorter path",
    errno.EMFILE: "too many files are open: raise the limit (ulimit -n) or run fewer things at once",
}


def log_folder() -> Path:
    """Where the tracebacks of bugs go: ``$POINTTUNE_CACHE/logs`` (``~/.cache/pointtune/logs``)."""
    root = os.environ.get("POINTTUNE_CACHE") or Path.home() / ".cache" / "pointtune"
    return Path(root).expanduser() / "logs"


def write_log(command: str, argv: list[str]) -> Path | None:
    """The traceback being handled, with the command line and versions, in a file of its own; its path (None when
    even that cannot be written)."""
    from trainable.learn.checkpoint import pointtune_version

    when = datetime.datetime.now()
    path = log_folder() / f"pointtune-{command}-{when:%Y%m%d-%H%M%S}-{os.getpid()}.log"
    text = (f"pointtune {pointtune_version()} on Python {platform.python_version()} ({platform.platform()})\n"
            f"command: pointtune {' '.join(argv)}\nwhen: {when.isoformat(timespec='seconds')}\n\n"
            f"{traceback.format_exc()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError:
        return None
    return path


def file_problem(e: OSError) -> str:
    """``PATH: Permission denied; check its permissions, ...``: an OSError that names a file, in words."""
    where = e.filename if e.filename2 is None else f"{e.filename} -> {e.filename2}"
    what = e.strerror or type(e).__name__
    todo = WHAT_TO_DO.get(e.errno or 0, "check the path and try again")
    return f"{where}: {what}; {todo}"


AS_PROGRAM = {"yes": False}  # set by main() when it is the `pointtune` program, not a call from Python


def calm_while_stopping() -> None:
    """Once a Ctrl-C has been taken, another one does not break off what the program does on its way out (Ray's
    shutdown, interrupted, printed a traceback and crashed); SIGKILL still ends it at once. Only in the program:
    a Python process that called ``main`` keeps its own Ctrl-C."""
    import signal
    import threading

    if AS_PROGRAM["yes"] and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def report_failure(command: str, argv: list[str], error: BaseException, verbose: bool = False) -> int:
    """Say what stopped ``command`` in one line on stderr; returns the exit status."""
    prefix = f"pointtune {command}: " if command else "pointtune: "
    if isinstance(error, KeyboardInterrupt):
        calm_while_stopping()
        print(f"\n{prefix}interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if isinstance(error, USER_ERRORS):
        print(f"{prefix}error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(error, OSError) and error.filename is not None:  # the file said; where it was opened, logged
        log = write_log(command or "pointtune", argv)
        print(f"{prefix}error: {file_problem(error)}" + (f" (where: {log})" if log else ""), file=sys.stderr)
        return EXIT_USAGE
    if isinstance(error, RuntimeError) and str(error).startswith("Symlink loop from "):  # pathlib's resolve (3.11)
        where = str(error).removeprefix("Symlink loop from ").strip("'")
        print(f"{prefix}error: {file_problem(OSError(errno.ELOOP, 'a symbolic link loop', where))}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        print(f"{prefix}error: out of memory ({type(error).__name__}); lower --batch-size or --tile-size (or, for a "
              "search, --max-concurrent), or use a machine with more memory", file=sys.stderr)
        return EXIT_USAGE
    log = write_log(command or "pointtune", argv)
    where = f"the traceback is in {log}" if log else "the traceback could not be saved; run again with -v to see it"
    print(f"{prefix}internal error (a bug in pointtune, not in what you gave it): {type(error).__name__}: "
          f"{str(error).splitlines()[0] if str(error) else ''}; {where}; please report it", file=sys.stderr)
    if verbose:
        traceback.print_exc()
    return EXIT_INTERNAL
