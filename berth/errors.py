"""One error hierarchy for every expected failure.

The CLI boundary (berth.cli.main) turns any BerthError into one clear line plus a hint and an exit code;
anything else is a bug and shows a traceback only with --debug.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit statuses of the `berth` command (see README)."""

    OK = 0
    FAILURE = 1  # an operation ran and failed (a build, a deploy step, a test boot)
    USAGE = 2  # bad command line
    CONFIG = 3  # invalid configuration files
    ENGINE = 4  # the container engine is unreachable or refused a request
    PRECHECK = 5  # host prechecks failed; nothing was changed
    BUILD = 6  # at least one image failed to build
    DEPLOY = 7  # a deploy / upgrade / rollback step failed
    HOST = 8  # the host cannot be prepared (wrong distribution, not root, package install failed)
    ABORTED = 130  # interrupted or declined at a confirmation prompt


class BerthError(Exception):
    """An expected failure: a message saying what went wrong and a hint saying how to fix it."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, hint: str | None = None, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or []

    def __str__(self) -> str:
        return self.message


class ConfigError(BerthError):
    """Configuration is invalid; `problems` holds every located problem (file:line: message)."""

    exit_code = ExitCode.CONFIG


class EngineError(BerthError):
    """The container engine is unreachable or refused a request; `doing` is the part of the message that says
    what was being done (berth.engine.base.doing() rewords it with berth's purpose)."""

    exit_code = ExitCode.ENGINE
    doing: str = ""


class EngineRefused(EngineError):
    """The engine answered but refused one request; `explanation` is its own reason (shown in some messages)."""

    def __init__(self, message: str, hint: str | None = None, *, explanation: str = "",
                 details: list[str] | None = None) -> None:
        super().__init__(message, hint, details=details)
        self.explanation = explanation or message


class EngineNotFound(EngineRefused):
    """The container, image, volume or network named in a request does not exist (callers may not care)."""


class HostError(BerthError):
    """The host cannot be prepared."""

    exit_code = ExitCode.HOST


class PrecheckError(BerthError):
    exit_code = ExitCode.PRECHECK


class BuildError(BerthError):
    exit_code = ExitCode.BUILD


class DeployError(BerthError):
    exit_code = ExitCode.DEPLOY


class RemoteError(DeployError):
    """Reaching other hosts failed as a whole (Ansible missing, the inventory unreadable), not one host's part."""


class NotFoundError(BerthError):
    """A named thing (image, service, container, history entry) does not exist."""

    exit_code = ExitCode.USAGE


class Aborted(BerthError):
    exit_code = ExitCode.ABORTED
