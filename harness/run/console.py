"""The guest's serial console: a reader thread that drains QEMU's stdio for the VM's life.

Every byte goes to console.log; every line is checked for kernel crash
patterns as it arrives (crash.Scanner), so a crash is caught whatever the
harness is doing at the time and asking for the reports costs no rescan.
"""

import codecs
import signal
import threading
from pathlib import Path
from typing import Callable

import pexpect

from harness.results import crash


def _fatal(line: str) -> bool:
    return crash.classify(line) not in (None, *crash.NOT_FATAL)


class Console(threading.Thread):
    """Drains QEMU's stdio: tees to console.log, decodes, scans lines for crash reports."""

    def __init__(self, child: pexpect.spawn, log_path: Path, phase: Callable[[], str]):
        super().__init__(name=f"console-{child.pid}", daemon=True)
        self.child = child
        self.log = log_path.open("ab")
        self._phase = phase
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._parts: list[str] = []
        self._partial_line = ""
        self._scanner = crash.Scanner()
        self.lock = threading.Lock()
        self.exited = threading.Event()
        self.crash_phases: dict[int, str] = {}  # console line number -> phase it was seen in
        self.exitstatus: int | None = None
        self.signalstatus: int | None = None

    def run(self) -> None:
        try:
            while True:
                try:
                    data = self.child.read_nonblocking(1 << 16, timeout=0.2)
                except pexpect.TIMEOUT:
                    continue
                except (pexpect.EOF, OSError):
                    break
                self.log.write(data)
                self.log.flush()
                self._feed(self._decoder.decode(data).replace("\r", ""))
        finally:
            with self.lock:  # a last line without a newline
                if self._partial_line and _fatal(self._partial_line):
                    self.crash_phases.setdefault(self._scanner.lines + 1, self._phase())
            try:
                self.child.wait()
            except Exception:  # already reaped by pexpect
                pass
            self.exitstatus = self.child.exitstatus
            self.signalstatus = self.child.signalstatus
            self.log.close()
            self.exited.set()

    def _feed(self, text: str) -> None:
        with self.lock:
            self._parts.append(text)
            lines = (self._partial_line + text).split("\n")
            self._partial_line = lines.pop()
            first = self._scanner.lines + 1
            for number, line in enumerate(lines, first):
                if _fatal(line):
                    self.crash_phases.setdefault(number, self._phase())
            self._scanner.feed(lines)

    def reports(self) -> list[crash.CrashReport]:
        """Every crash report so far (the last ones may still be growing)."""
        with self.lock:
            return self._scanner.reports(self._partial_line)

    def text(self) -> str:
        with self.lock:
            joined = "".join(self._parts)
            self._parts = [joined]
            return joined

    def last_lines(self, count: int = 25) -> str:
        lines = self.text().rstrip("\n").splitlines()[-count:]
        return "\n    ".join(lines) if lines else "(no console output)"

    def exit_description(self) -> str:
        if self.signalstatus is not None:
            try:
                name = signal.Signals(self.signalstatus).name
            except ValueError:
                name = "?"
            return f"killed by signal {self.signalstatus} ({name})"
        return f"exit status {self.exitstatus}"
