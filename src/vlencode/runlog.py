"""Logging for workflow scripts: one logger writing to the rule's log file and to stderr, uncaught errors included."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path
from types import TracebackType

LOGGER_NAME = "vlencode"


def rule_logger(log_path: str | os.PathLike | None = None) -> logging.Logger:
    """The ``vlencode`` logger, writing to ``log_path`` (when given) and stderr, each line time-stamped.

    Library modules log through ``logging.getLogger("vlencode.<module>")`` and so reach both destinations.  It also
    installs :func:`log_uncaught` as the interpreter's exception hook, so an error that stops a workflow script ends
    the rule log (the file Snakemake points the user to) as well as stderr.
    """
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    logger.propagate = False
    sys.excepthook = log_uncaught
    return logger


def error_line(error: BaseException) -> str:
    """The one-line message of an error: the library's errors (ValueError, OSError) already name the file and the fix;
    any other type is an unexpected failure and keeps its type name."""
    text = " ".join(str(error).split()) or "(no message)"
    if isinstance(error, ValueError | OSError):
        return text
    return f"{type(error).__name__}: {text}"


def log_uncaught(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
    """Exception hook: the traceback goes to the rule log only, then the one-line message ends both the log and
    stderr.  The interpreter still exits with status 1, so Snakemake marks the job failed and removes its outputs."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, tb)
        return
    logger = logging.getLogger(LOGGER_NAME)
    detail = "".join(traceback.format_exception(kind, error, tb))
    for handler in logger.handlers:
        # A closed file handler has no stream left to write to.
        if isinstance(handler, logging.FileHandler) and handler.stream is not None:
            handler.acquire()
            try:
                handler.stream.write(detail)
                handler.flush()
            finally:
                handler.release()
    if not logger.handlers:  # no rule_logger: behave like the default hook
        sys.__excepthook__(kind, error, tb)
        return
    logger.error(error_line(error))
