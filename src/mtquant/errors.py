"""Exceptions that entry points turn into one clear line and a non-zero exit (no traceback)."""


class MTQuantError(Exception):
    """Base of every error a user can fix: bad config, bad data, bad checkpoint."""


class ConfigError(MTQuantError, ValueError):
    """A config key has a wrong or out-of-range value; the message names the key and value."""


class DataError(MTQuantError, ValueError):
    """Input data is malformed; the message names the file, the row, the column and the value."""


class CheckpointError(MTQuantError, ValueError):
    """A checkpoint is corrupt or does not match the config; the message says what differs."""
