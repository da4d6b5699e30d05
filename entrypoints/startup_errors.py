"""Why a command could not start, each with its own exit status for supervisors to act on.

The message is what the operator reads: one line per problem, no traceback. The statuses are
documented in the README ("Start-up errors and exit statuses") and in `inference worker --help`.
"""

from __future__ import annotations

from typing import ClassVar


class StartupError(Exception):
    exit_status: ClassVar[int] = 1


class InvalidSettings(StartupError, ValueError):
    """A setting or option a command cannot run with: restarting will not help until it is fixed."""

    exit_status = 2


class ModelLoadError(StartupError, RuntimeError):
    """The model could not be loaded (weights, precision, device): nor will it on a restart."""

    exit_status = 3


EXIT_STATUSES = (
    f"exit status: 0 stopped; {InvalidSettings.exit_status} a bad setting, option, manifest or API keys "
    f"file; {ModelLoadError.exit_status} the model could not be loaded (weights, precision, device); "
    "each with one line on stderr saying why."
)
