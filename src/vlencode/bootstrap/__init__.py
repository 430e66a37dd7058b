"""Bootstrap of encoding scores, below :mod:`vlencode.encoding` (which runs it) and :mod:`vlencode.stats` (which
decides from its bounds).

Modules
-------
resampling
    iid and block resamples of events, shared by every model of a subject and alignment.
fast
    The fast protocol: resampled Pearson r of out-of-fold predictions by weighted moments.
refit
    The refit protocol (the paper's): the whole cross-validation rerun on every resample.
inflation
    The fast protocol's variance inflation, measured on a circularly shifted null fit.
bounds
    Percentile bounds and the sup-t simultaneous band of resampled scores.
"""
