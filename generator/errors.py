"""User-facing errors: the CLI prints these as one line and exits non-zero, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's inputs or options, explained in one line."""


class BadInput(UserError):
    """One input file that cannot be used (unreadable, empty, fully transparent, ...). The message names
    the file; with --skip-bad-inputs the file is skipped with a warning instead of stopping the build.
    (`path` is optional so the exception still pickles across worker processes.)"""

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path


class OutputError(UserError):
    """The output folder cannot be written (disk full, file-size limit, no permission, locked by another
    build). Not a mistake in the inputs: the CLI exits with code 1 instead of 2."""

    exit_code = 1


class ServiceError(UserError):
    """The network or a remote service (the Hub) failed, not the user: the CLI exits with code 1."""

    exit_code = 1


class ModelUnavailable(UserError):
    """A depth model that cannot be had (not downloadable, not loadable). Its message says why and the ways
    out that hold for every command; the command that loads the model adds its own flags (`with_ways_out`),
    so no command suggests another's flags."""

    def __init__(self, why: str, ways: tuple[str, ...] = (), exit_code: int = 2):
        super().__init__(f"{why}: {', or '.join(ways)}" if ways else why)
        self.why, self.ways, self.exit_code = why, tuple(ways), exit_code

    def __reduce__(self):  # crosses process boundaries whole (worker processes, Ray actors)
        return type(self), (self.why, self.ways, self.exit_code)

    def with_ways_out(self, *ways: str) -> "ModelUnavailable":
        return ModelUnavailable(self.why, (*self.ways, *ways), self.exit_code)


def describe_os_error(error: OSError, path=None, action: str = "write") -> str:
    """`cannot write PATH: No space left on device` (or `cannot read ...`) from any OSError, pyarrow's included."""
    reason = error.strerror or str(error)
    where = path or error.filename
    return f"cannot {action} {where}: {reason}" if where else f"cannot {action} the output: {reason}"
