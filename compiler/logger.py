"""TensorRT's ILogger: severities, a minimum severity, and a ``log`` method users may override.

Messages also go to Python's ``logging`` (logger name ``tritium``), so applications that configure
logging see them without subclassing.
"""

from __future__ import annotations

import enum
import logging
import sys

_PY_LEVELS = {0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO, 4: logging.DEBUG}
_log = logging.getLogger("tritium")


class Severity(enum.IntEnum):
    INTERNAL_ERROR = 0
    ERROR = 1
    WARNING = 2
    INFO = 3
    VERBOSE = 4


class Logger:
    """``Logger(Logger.WARNING)``; subclass and override ``log`` to capture messages (as with TensorRT)."""

    Severity = Severity
    INTERNAL_ERROR = Severity.INTERNAL_ERROR
    ERROR = Severity.ERROR
    WARNING = Severity.WARNING
    INFO = Severity.INFO
    VERBOSE = Severity.VERBOSE

    def __init__(self, min_severity: Severity = Severity.WARNING) -> None:
        self.min_severity = Severity(min_severity)

    def log(self, severity: Severity, msg: str) -> None:
        """Default: print to stderr when at least as severe as ``min_severity``."""
        if severity <= self.min_severity:
            print(f"[tritium] [{Severity(severity).name[0]}] {msg}", file=sys.stderr)

    def emit(self, severity: Severity, msg: str) -> None:
        """Send ``msg`` to ``log`` and to Python logging (the call sites inside Tritium use this)."""
        _log.log(_PY_LEVELS[int(severity)], msg)
        self.log(severity, msg)

    def error(self, msg: str) -> None:
        self.emit(Severity.ERROR, msg)

    def warning(self, msg: str) -> None:
        self.emit(Severity.WARNING, msg)

    def info(self, msg: str) -> None:
        self.emit(Severity.INFO, msg)

    def verbose(self, msg: str) -> None:
        self.emit(Severity.VERBOSE, msg)


ILogger = Logger
