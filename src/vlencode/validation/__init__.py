"""Validation of the workflow's statistics against known truth, on top of every other layer.

Modules
-------
harness
    Simulated feature spaces and electrodes with the replica's noise and effect size (:mod:`vlencode.simulation`),
    fitted and tested exactly as the workflow does.
recovery
    Precision, recall and false-positive rate of calls against a replica's planted truth.
agreement
    Fast vs refit protocol: agreement of bounds and calls (Cohen's kappa), and both protocols run on one problem.
"""
