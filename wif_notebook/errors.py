"""The kit's one error hierarchy.

    WifError                 something the user can act on: ``what`` failed, ``hint`` says what to do next
     ├── ConfigError         a configuration is invalid (mongod.conf, oidcIdentityProviders, principals)
     ├── ServiceError        a service (IdP, test mongod) is not running, failed to start, or answered badly
     ├── TokenError          a token could not be obtained, decoded or verified
     └── StateError          the state directory cannot be used (permissions, full disk, foreign files)

Notebook magics turn these into IPython ``UsageError`` (one line, no traceback); the ``wif`` command
prints them and exits with status 1.
"""

from __future__ import annotations


class WifError(Exception):
    """A failure with a plain-words cause and the next step to take."""

    def __init__(self, what: str, *, hint: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.what}\n  next step: {self.hint}"
        return self.what


class ConfigError(WifError):
    """A configuration value is invalid; ``what`` carries the message a real mongod would give."""


class ServiceError(WifError):
    """A kit service is down, failed to start, or answered in a way the kit cannot use."""


class TokenError(WifError):
    """A token could not be obtained, decoded or verified."""


class StateError(WifError):
    """The state directory is unusable."""
