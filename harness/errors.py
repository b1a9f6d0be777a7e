"""The one exception type the CLI turns into a clear message and exit code."""


class HarnessError(Exception):
    """An error the user can act on: what failed, on which input, what to do.

    `artifacts` lists files kept on disk that explain the failure.
    """

    def __init__(self, message: str, hint: str = "", artifacts: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.artifacts = list(artifacts or [])

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        for path in self.artifacts:
            text += f"\n  kept: {path}"
        return text
