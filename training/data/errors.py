"""Errors about a user's data (not about our code): the CLI prints them and exits non-zero."""


class DataError(ValueError):
    """The data does not match its schema, or cannot be read; the message says where and why."""
