"""Statistics of encoding scores: resampling that respects dependence, keep rules, paired comparisons, multimodal
sites, recovery of planted truth, and a validation harness with known truth.

Modules
-------
resampling
    iid and block resamples of events, shared by every model of a subject and alignment.
fast
    The fast protocol: resampled Pearson r of out-of-fold predictions by weighted moments.
keep
    The keep rules ``paper`` and ``calibrated`` (default), percentile bounds, the alpha-on-the-grid-edge check.
compare
    Paired per-electrode comparisons of two models, one registered function per comparison kind; best models per family
    chosen on validation scores and every model's kept bins (the selection table).
shown
    The models the figures show (entry and twins, best model per category), from the run's model instances.
sites
    Benjamini-Hochberg across subjects, the tests of multimodality, categories and site counts.
recovery
    Precision, recall and false-positive rate of calls against a replica's planted truth.
agreement
    Fast vs refit protocol: agreement of bounds and calls (Cohen's kappa).
harness
    Simulated feature spaces and electrodes with the replica's noise, spacing and effect size.
"""
