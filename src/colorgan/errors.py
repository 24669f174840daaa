"""Errors a user can fix: stages print their message and exit 2 instead of a traceback."""


class ColorganError(Exception):
    """Base of every error whose message tells the user what to do."""
