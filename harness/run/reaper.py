"""Making sure no QEMU outlives the harness: killed by PID at exit, on SIGTERM/SIGHUP,
and by the kernel (PR_SET_PDEATHSIG) if the harness itself is killed."""

import atexit
import ctypes
import os
import signal
import threading

# PID -> the event its console thread sets once it has reaped the process.
_LIVE: dict[int, threading.Event] = {}
_handlers_installed = False
_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn for the child. The signal fires when the forking *thread*
    exits, so boot machines from a thread that outlives them (the main one)."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def track(pid: int, reaped: threading.Event) -> None:
    _LIVE[pid] = reaped


def forget(pid: int) -> None:
    _LIVE.pop(pid, None)


def kill_all() -> None:
    live = list(_LIVE.items())
    _LIVE.clear()
    for pid, _ in live:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for _, reaped in live:  # their console threads reap them: no zombies left
        reaped.wait(2.0)


def install_handlers() -> None:
    """atexit and SIGTERM/SIGHUP handlers (once, from the main thread)."""
    global _handlers_installed
    if _handlers_installed or threading.current_thread() is not threading.main_thread():
        return
    _handlers_installed = True
    atexit.register(kill_all)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        previous = signal.getsignal(signum)

        def handler(sig, frame, previous=previous):
            kill_all()
            if callable(previous):
                previous(sig, frame)
            elif previous != signal.SIG_IGN:
                signal.signal(sig, signal.SIG_DFL)
                os.kill(os.getpid(), sig)

        signal.signal(signum, handler)
