"""Errors the store raises for bad input: one clear line naming what is wrong; nothing was written."""


class InputError(ValueError):
    """Bad input from a person or a file. The message names the file, record and field where known."""


class NotFound(LookupError):
    """The thing asked for does not exist, or the signed-in user may not see it."""


class Forbidden(PermissionError):
    """The signed-in user's role does not allow this change."""


class Conflict(RuntimeError):
    """Someone else changed this first (optimistic locking on `version`)."""
