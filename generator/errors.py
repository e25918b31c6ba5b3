"""User-facing errors: the CLI prints these as one line and exits non-zero, never a traceback."""


class UserError(Exception):
    """A mistake in the user's inputs or options, explained in one line."""
