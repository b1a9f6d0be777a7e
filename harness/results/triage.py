"""`mmharness triage CONSOLE_LOG`: every crash report in a saved console log."""

from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.results import crash


@dataclass(frozen=True)
class Triage:
    path: Path
    reports: tuple[crash.CrashReport, ...]

    @property
    def fatal(self) -> tuple[crash.CrashReport, ...]:
        return tuple(crash.fatal(list(self.reports)))

    @property
    def exit_code(self) -> int:
        return 1 if self.fatal else 0

    def render(self) -> str:
        if not self.reports:
            return f"{self.path}: no crash reports"
        fatal = len(self.fatal)
        lines = [f"{self.path}: {len(self.reports)} crash report(s), {fatal} fatal, "
                 f"{len(self.reports) - fatal} notice(s)"]
        for report in self.reports:
            severity = "notice" if report.kind in crash.NOT_FATAL else "fatal"
            lines.append(f"\n[{severity}] {report.kind} at line {report.line}: {report.title}")
            lines += [f"    {line}" for line in report.excerpt.splitlines()]
        return "\n".join(lines)


def triage(path: Path) -> Triage:
    path = Path(path)
    try:
        text = path.read_text(errors="replace")  # a console may carry stray bytes
    except FileNotFoundError:
        raise HarnessError(f"console log {path} does not exist",
                           hint="give a console.log from a run's results directory "
                                "(results/<run>/<test>/console.log)") from None
    except IsADirectoryError:
        raise HarnessError(f"{path} is a directory, not a console log",
                           hint=f"give a file in it, e.g. {path / 'console.log'}") from None
    except OSError as error:
        raise HarnessError(f"cannot read console log {path}: {error.strerror}") from None
    return Triage(path, tuple(crash.scan(text)))
