"""Errors of the local store. Their messages are shown to the user as they are, on one line."""

from __future__ import annotations


class StoreError(Exception):
    """The store cannot be used; the message says why and what to do."""


class StoreMissingError(StoreError):
    """No store file at the path yet."""


class StoreCorruptError(StoreError):
    """The file is not a SQLite database (or is damaged)."""


class NewerStoreError(StoreError):
    """The file was written by a newer genai-cost; reading or writing it could misread or corrupt it."""


class ForeignStoreError(StoreError):
    """The file is a SQLite database of another program."""
