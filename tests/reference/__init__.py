"""Plain-torch transcriptions of the releases vlencode converts, sharing no code with ``src/``: the tests' reference."""
