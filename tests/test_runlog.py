"""Workflow scripts' logging: an uncaught error ends the rule log and stderr with one line; exit status 1."""

import subprocess
import sys
import textwrap


def run_script(tmp_path, body: str) -> tuple[subprocess.CompletedProcess, str]:
    log = tmp_path / "logs" / "rule.log"
    script = tmp_path / "script.py"
    script.write_text(
        "from vlencode.runlog import rule_logger\n"
        f"log = rule_logger({str(log)!r})\n"
        "log.info('started')\n" + textwrap.dedent(body)
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    return result, log.read_text()


def test_a_library_error_ends_the_rule_log_and_stderr_with_its_one_line(tmp_path):
    message = "data/sub_1_trial000.h5: truncated HDF5 file; re-download it"
    result, log = run_script(tmp_path, f"raise ValueError({message!r})\n")
    assert result.returncode == 1
    assert log.rstrip("\n").splitlines()[-1].endswith(f"ERROR vlencode: {message}")
    assert "Traceback" in log  # the details stay in the log for a bug report
    assert result.stderr.rstrip("\n").splitlines()[-1].endswith(f"ERROR vlencode: {message}")
    assert "Traceback" not in result.stderr
    assert "started" in log


def test_an_unexpected_error_keeps_its_type_and_a_multiline_message_becomes_one_line(tmp_path):
    result, log = run_script(tmp_path, "raise KeyError('rate_hz')\n")
    assert result.returncode == 1
    assert log.splitlines()[-1].endswith("ERROR vlencode: KeyError: 'rate_hz'")
    result, log = run_script(tmp_path, "raise RuntimeError('first\\n  second')\n")
    assert log.splitlines()[-1].endswith("ERROR vlencode: RuntimeError: first second")


def test_a_clean_exit_logs_no_error(tmp_path):
    result, log = run_script(tmp_path, "log.info('done')\n")
    assert result.returncode == 0
    assert "ERROR" not in log and log.splitlines()[-1].endswith("done")


def test_a_chunk_that_cannot_be_decoded_names_its_store_and_the_fix(tmp_path):
    # A truncated chunk failed inside zstd with no path: "RuntimeError: Zstd decompression error: invalid input data".
    store = tmp_path / "neural.zarr"
    body = f"""
        import os
        import numpy as np
        from vlencode.store import atomic_zarr, open_zarr
        with atomic_zarr({str(store)!r}) as group:
            group.create_array("signal", shape=(100, 4), chunks=(10, 4), dtype="float32")[:] = np.ones((100, 4))
        os.truncate({str(store / "signal" / "c" / "3" / "0")!r}, 10)
        open_zarr({str(store)!r})["signal"][:]
        """
    result, log = run_script(tmp_path, body)
    assert result.returncode == 1
    last = result.stderr.rstrip("\n").splitlines()[-1]
    assert f"ERROR vlencode: {store}/signal: a chunk could not be decoded (RuntimeError: Zstd decompression" in last
    assert last.endswith("the store is damaged, delete it and rerun the rule that writes it")


def test_a_chunk_with_a_flipped_bit_is_reported_as_damage(tmp_path):
    store = tmp_path / "epochs.zarr"
    body = f"""
        import numpy as np
        from vlencode.store import atomic_zarr, create_array, open_zarr
        with atomic_zarr({str(store)!r}) as group:
            array = create_array(group, "response", shape=(100, 4), chunks=(10, 4), dtype="float32")
            array[:] = np.arange(400).reshape(100, 4)
        chunk = {str(store / "response" / "c" / "3" / "0")!r}
        damaged = bytearray(open(chunk, "rb").read())
        damaged[len(damaged) // 2] ^= 0x10
        open(chunk, "wb").write(bytes(damaged))
        open_zarr({str(store)!r})["response"][:]
        """
    result, log = run_script(tmp_path, body)
    assert result.returncode == 1
    last = result.stderr.rstrip("\n").splitlines()[-1]
    assert f"{store}/response: a chunk could not be decoded (RuntimeError: Zstd decompression error" in last
    assert "checksum" in last and last.endswith("delete it and rerun the rule that writes it")


def test_a_write_or_shape_error_inside_zarr_is_not_called_a_damaged_chunk(tmp_path):
    body = f"""
        import numpy as np
        from vlencode.store import atomic_zarr
        with atomic_zarr({str(tmp_path / "x.zarr")!r}) as group:
            group.create_array("signal", shape=(100,), chunks=(10,), dtype="float32")[:] = np.ones(7)
        """
    result, log = run_script(tmp_path, body)
    assert result.returncode == 1
    assert "could not broadcast" in log.splitlines()[-1] and "damaged" not in log.splitlines()[-1]
