"""Errors a person can act on: the CLI prints them without a stack trace."""


class QbrError(Exception):
    """A problem with a clear message for the operator (bad config, port in use, ...)."""
