"""Exception types: user errors carry a one-line message naming the file, row and column at fault."""

from __future__ import annotations


class TargetingError(Exception):
    """Base class of errors caused by input or configuration (the CLI prints these without a traceback)."""


class InputFileError(TargetingError):
    """A data file cannot be used at all (missing column, unreadable encoding, duplicate ids...)."""


class SpecError(TargetingError):
    """A dataset spec, experiment or configuration file is invalid."""


class RuleSetError(TargetingError):
    """A rule-set file is invalid."""


class ModelIntegrityError(TargetingError):
    """A saved model does not match its card (hash mismatch, tampering, wrong features)."""
