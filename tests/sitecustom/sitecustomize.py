"""Test-only start-up hook of the Python processes a workflow test runs (put on PYTHONPATH by tests/smallrun.py).

``VLENCODE_AUDIT_DIR``: every file a workflow script opens for reading is recorded (``sys.addaudithook`` on the
``open`` event, raised by Python's ``open``/``os.open``, so also by pandas, zarr, h5py and MNE; a library opening files
in C only, such as FFmpeg, is not seen), and at exit the job's rule, declared inputs and outputs and the opened files
go to ``<dir>/<pid>.json``.
``VLENCODE_BUMP_STAGE``: the named stage's algorithm version is raised by one, as a code change would.
"""

import atexit
import json
import os
import sys

if os.environ.get("VLENCODE_BUMP_STAGE"):
    from vlencode.versions import STAGE_VERSIONS

    STAGE_VERSIONS[os.environ["VLENCODE_BUMP_STAGE"]] += 1

if os.environ.get("VLENCODE_AUDIT_DIR"):
    _opened: set[str] = set()
    _WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def _record(event, args):
        if event != "open" or not args or not isinstance(args[0], (str, bytes, os.PathLike)):
            return
        mode, flags = (args[1], args[2]) if len(args) > 2 else (args[1] if len(args) > 1 else "r", 0)
        reading = ("r" in mode and "+" not in mode) if isinstance(mode, str) else not (flags or 0) & _WRITE
        if reading:
            _opened.add(os.path.abspath(os.fsdecode(args[0])))

    def _dump():
        job = getattr(sys.modules.get("__main__"), "snakemake", None)
        if job is None:
            return
        record = {
            "rule": job.rule,
            "input": [os.path.abspath(p) for p in job.input],
            "output": [os.path.abspath(p) for p in job.output] + [os.path.abspath(p) for p in job.log],
            "opened": sorted(_opened),
        }
        path = os.path.join(os.environ["VLENCODE_AUDIT_DIR"], f"{os.getpid()}.json")
        with open(path, "w") as handle:
            json.dump(record, handle)

    sys.addaudithook(_record)
    atexit.register(_dump)
