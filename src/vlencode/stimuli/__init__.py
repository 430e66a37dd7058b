"""What the subjects saw and heard: events (word, sentence, scene cut), frame decoding, scene detection, stimuli.

- :mod:`vlencode.stimuli.events` — one table per trial of events mapped to neural samples through the clock.
- :mod:`vlencode.stimuli.frames` — the movie frame shown at given movie times, decoded in one sequential pass.
- :mod:`vlencode.stimuli.scenes` — scene cuts detected in a movie file (PySceneDetect).
- :mod:`vlencode.stimuli.table` — the unique (frame, text) stimuli of a movie over every subject's events.
"""
