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


def damaged_chunk(error: BaseException, tb: TracebackType | None) -> str | None:
    """The one-line message of an error raised while zarr decoded a chunk, naming the array it read, else None.

    A truncated or overwritten chunk fails inside a codec (zstd, blosc: ``RuntimeError`` and others, with no path);
    the traceback's zarr array frames say which array was being read.
    """
    frames = [frame for frame, _ in traceback.walk_tb(tb)]
    # A codec's decode on the stack: not a write (encode), a store's read (I/O) or a caller's shape error.
    if not any("decode" in frame.f_code.co_name and "codec" in frame.f_code.co_filename for frame in frames):
        return None
    arrays = [frame.f_locals.get("self") for frame in frames]
    paths = [getattr(a, "store_path", None) for a in arrays if type(a).__name__ == "Array"]
    where = next((str(path).removeprefix("file://") for path in paths if path is not None), None)
    if where is None:
        return None
    return (
        f"{where}: a chunk could not be decoded ({error_line(error)}); the store is damaged, delete it and rerun the "
        "rule that writes it"
    )


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
    logger.error(damaged_chunk(error, tb) or error_line(error))
