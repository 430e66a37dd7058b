"""Statistics on encoding fits: keep rules, paired comparisons and multimodal sites.

The resamples and bounds they rest on are :mod:`vlencode.bootstrap`'s; the validation of these statistics against
known truth is :mod:`vlencode.validation`'s.

Modules
-------
keep
    The keep rules ``paper`` and ``calibrated`` (default), the alpha-on-the-grid-edge check.
compare
    Paired per-electrode comparisons of two models, one registered function per comparison kind; best models per family
    chosen on validation scores and every model's kept bins (the selection table).
shown
    The models the figures show (entry and twins, best model per category), from the run's model instances.
subject
    A subject's comparisons read from its fit stores.
sites
    Benjamini-Hochberg across subjects, the tests of multimodality, categories and site counts.
"""
