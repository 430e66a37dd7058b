"""vlencode: vision-language encoding models of intracranial recordings during movie watching."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vlencode")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
