"""Logging for workflow scripts: one logger writing to the rule's log file and to stderr."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

LOGGER_NAME = "vlencode"


def rule_logger(log_path: str | os.PathLike | None = None) -> logging.Logger:
    """The ``vlencode`` logger, writing to ``log_path`` (when given) and stderr, each line time-stamped.

    Library modules log through ``logging.getLogger("vlencode.<module>")`` and so reach both destinations.
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
    return logger
