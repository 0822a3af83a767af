"""Ctrl-C that works at every stage of a command: one line, exit status 130, nothing partial.

(SIGTERM likewise, with exit status 143: 128 plus the signal's number, as shells report.)

Python runs a signal handler only between bytecodes of the main thread, so a KeyboardInterrupt
waits until XLA returns: minutes into a compile or a long sampler call, and then a traceback
(or, during a compile, a crash). Here the C-level handler only writes to a wake-up pipe; a
watcher thread (XLA releases the GIL while it compiles and runs) reads it, removes the partial
files of writes in progress (`posterior.files_being_written`), says so in one line and ends
the process at once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading


# Outputs that mean nothing until their command ends (the demo's runs, fit and forecast, and
# the folder made for them): removed on an interrupt, as partial fit files are, so that a rerun
# is not refused for files a killed run left. Files the command found already there are never
# added (an interrupted --force overwrite leaves the old file), nor a folder it did not make.
UNFINISHED_OUTPUTS = set()


def exit_on_interrupt(partial_files):
    """From now on, SIGINT (Ctrl-C) and SIGTERM end the process within milliseconds.

    Parameters
    ----------
    partial_files : callable
        Returns the paths of partial output files, and of folders made for them (removed when
        left empty), to remove before exiting.

    Call it from the main thread. Not for library code: it ends the whole process.
    """
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: None)  # the watcher acts; the main thread goes on

    def watch():
        signum = os.read(read_end, 1)[0]
        for path in sorted(partial_files(), key=os.path.isdir):  # files, then their folders
            try:
                os.rmdir(path) if os.path.isdir(path) else os.remove(path)
            except OSError:  # gone already, or a folder that holds other files: left
                pass
        name = "interrupted" if signum == signal.SIGINT else "terminated"
        os.write(sys.stderr.fileno(), f"\nbayes-scaling: {name}\n".encode())
        os._exit(128 + signum)

    threading.Thread(target=watch, name="interrupt watcher", daemon=True).start()
