"""Variance inflation of the fast protocol, measured on a circularly shifted null fit of the same data.

The fast protocol (:mod:`vlencode.bootstrap.fast`) resamples the held-out predictions of one fit.  It leaves out the
fitting variability, and the folds' scores are correlated through the training events they share, which no resampling
of held-out events sees (Y. Bengio and Y. Grandvalet 2004, "No unbiased estimator of the variance of K-fold
cross-validation", JMLR 5, 1089-1105).  On the validation harness its standard error of a silent electrode's test r
at 10 s blocks falls short of the spread of that r across independent silent electrodes by up to 9% at 8 minutes and
15-19% at 40 minutes and 2 hours, and no block length fixes it (config/README.md, "Calibration at the paper's
length"), so the keep rules call silent electrodes well above their nominal rate on long recordings.

The shortfall is measured on the data itself, as an empirical null (B. Efron 2004, "Large-scale simultaneous
hypothesis testing: the choice of a null hypothesis", JASA 99, 96-104): the responses of a seeded subset of electrodes
are shifted circularly by half the events against the design (:func:`shifted_null`), which breaks the
stimulus-response link and keeps each series' own dependence, the design, the folds and the alphas (a circular-shift
surrogate: G. Lancaster et al. 2018, "Surrogate data for hypothesis testing of physical systems", Physics Reports
748, 1-60).  The shifted targets are cross-validated like the real ones and resampled on the same resamples.  In each
bin, the spread of their scores across the subset's electrodes is the sampling variance the bootstrap should match
(times one minus the electrodes' mean correlation); :func:`inflation_factor` finds the factor that gives the null
targets' scores, each studentised by its own bootstrap standard error, unit variance across electrodes (corrected
for that correlation, which the resamples measure), floored at 1 (the correction only widens).  :func:`inflate`
then widens every resample of the real fit around its estimate, ``r + factor * (r* - r)``, so that percentile
bounds, sup-t bands and paired differences all carry it.

Limits, measured or reasoned (config/README.md): a responsive electrode keeps its evoked response to every event
after the shift, which the design predicts in part, so a subject with many responsive contacts gets a smaller factor
(on the harness at 40 and 120 minutes, means over seeds: 1.17-1.24 on its planted subjects against 1.20-1.24 on its
null ones).  Electrodes whose null scores are correlated (a shared reference or volume conduction) spread less than
their sampling error; the factor corrects for it with their correlation in the resamples, which assumes the
bootstrap sees the same correlation as the sampling (on the replicas both were 0.02-0.03).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger("vlencode.bootstrap")

#: Electrodes in the shifted null fit: enough that the spread across them in each bin is estimated on about 31
#: degrees of freedom (pooled over bins), few enough that the null fit costs a fraction of the real one (32 of the
#: paper's 150 electrodes); a subject with fewer uses all of its electrodes.
NULL_ELECTRODES = 32

#: Fewest resamples the shifted null accepts: the factor divides by each target's variance over resamples, whose
#: inverse has an infinite mean below 4 resamples and an infinite variance below 6 (an inverse chi-square).
MIN_RESAMPLES = 10

#: Resamples of the null fit's bootstrap (the first ones of the subject's shared resamples): its variance is averaged
#: over every null target, so a hundred resamples estimate it to well under a percent.
NULL_RESAMPLES = 100


def null_electrodes(n_electrodes: int, seed: int) -> np.ndarray:
    """The electrodes of the shifted null fit: :data:`NULL_ELECTRODES` of ``n_electrodes`` drawn without
    replacement (all of them when there are fewer), sorted; seeded by ``seed``.

    Raises
    ------
    ValueError
        Fewer than 2 electrodes (a spread across electrodes needs two).
    """
    if n_electrodes < 2:
        raise ValueError(f"bootstrap.inflation: the shifted null needs at least 2 electrodes, got {n_electrodes}")
    if n_electrodes <= NULL_ELECTRODES:
        return np.arange(n_electrodes)
    return np.sort(np.random.default_rng(seed).choice(n_electrodes, NULL_ELECTRODES, replace=False))


def shifted_null(
    targets: np.ndarray, shape: tuple[int, int], electrodes: np.ndarray, trial_of_event: np.ndarray | None = None
) -> np.ndarray:
    """The responses of ``electrodes`` shifted circularly by half the events, within each trial.

    Within a trial, so that two trials of one movie never pair a response with its own stimulus again.

    Parameters
    ----------
    targets : ndarray, shape (n_events, n_electrodes * n_bins)
        Targets in electrode-major order (``shape`` reshapes a row).
    shape : (n_electrodes, n_bins)
    electrodes : int array
        The electrodes shifted (:func:`null_electrodes`).
    trial_of_event : ndarray, shape (n_events,), optional
        The trial of every event; default: all events are one trial.

    Returns
    -------
    ndarray, shape (n_events, len(electrodes) * n_bins)
        Within a trial of ``m`` events, its ``i``-th row holds the responses of its event ``(i + m // 2) % m``.

    Raises
    ------
    ValueError
        Fewer than 2 events.
    """
    n_events = len(targets)
    if n_events < 2:
        raise ValueError(f"bootstrap.inflation: the shifted null needs at least 2 events, got {n_events}")
    columns = np.asarray(targets).reshape(n_events, *shape)[:, electrodes].reshape(n_events, -1)
    trials = np.zeros(n_events) if trial_of_event is None else np.asarray(trial_of_event)
    null = np.empty_like(columns)
    for trial in np.unique(trials):
        rows = np.flatnonzero(trials == trial)
        null[rows] = np.roll(columns[rows], -(len(rows) // 2), axis=0)
    return null


def inflation_factor(boot: np.ndarray, estimate: np.ndarray) -> float:
    """The factor that widens the bootstrap to the spread of null scores across electrodes.

    The keep rules studentise each target by its own bootstrap standard error (a percentile bound per bin, a sup-t
    band over an electrode's bins), so the factor is the one that gives the null targets' studentised scores unit
    variance, rather than a ratio of pooled variances: on a 40-minute null replica the pooled ratio left the
    studentised variance of the real silent electrodes at 1.07 (scene cuts) and 1.08 (words), and the band, a tail
    event 3.5 standard errors out, passed on 5.6% and 3.7% of (model, electrode) instead of 2.5% (config/README.md,
    "The studentised factor").  Two corrections remove the leading biases (exactly for equal errors and normal
    resamples; the square root of the corrected variance ratio is not itself unbiased):

    - **Correlated electrodes.** Across electrodes whose null scores correlate at a mean ``rho`` (a shared reference,
      volume conduction), the spread estimates the sampling variance times ``1 - rho``.  The resamples carry that
      correlation (the bootstrap redraws the same events for every electrode), so ``rho`` is measured on them, per
      bin, as ``(n var*(mean over electrodes) / mean var* - 1) / (n - 1)``, averaged over bins and floored at 0
      (0.024-0.026 on the replicas, and 0.02-0.03 in the estimates across bins).  Above 0.5 the spread measures less
      than half the sampling variance and a warning is logged.
    - **Monte Carlo error of the standard errors.** Dividing by a variance estimated from ``m`` resamples inflates
      the mean by ``(m - 1) / (m - 3)`` for normal draws (the mean of an inverse chi-square), 2% at 100 resamples;
      it is removed.  :data:`MIN_RESAMPLES` bounds ``m`` from below.

    Parameters
    ----------
    boot : ndarray, shape (n_resamples, n_electrodes, n_bins)
        Resampled scores of the null targets.
    estimate : ndarray, shape (n_electrodes, n_bins)
        Their scores on the original events.

    Returns
    -------
    float >= 1
        ``sqrt(S / (1 - rho))`` with ``S`` the mean over targets of ``(r - rbar)^2 / var*`` times ``n / (n - 1)``
        (``rbar`` the bin's mean across the ``n`` electrodes, ``var*`` the target's variance over resamples; targets
        whose variance is below ``1e-10`` of the median, constant up to round-off, are left out) and the Monte Carlo
        correction; or 1 when that is smaller or undefined (no target that varies, a non-finite score, or ``rho``
        undefined or >= 1: a warning is logged).

    Raises
    ------
    ValueError
        Shapes that are not (n_resamples >= MIN_RESAMPLES, n_electrodes >= 2, n_bins) and (n_electrodes, n_bins).
    """
    boot = np.asarray(boot, dtype=np.float64)
    estimate = np.asarray(estimate, dtype=np.float64)
    if boot.ndim != 3 or boot.shape[1:] != estimate.shape or boot.shape[0] < MIN_RESAMPLES or estimate.shape[0] < 2:
        raise ValueError(
            f"inflation_factor: resamples {boot.shape} and estimate {estimate.shape} must be (n_resamples >= "
            f"{MIN_RESAMPLES}, n_electrodes >= 2, n_bins) and (n_electrodes, n_bins)"
        )
    n_resamples, n_electrodes = boot.shape[:2]
    sampling = boot.var(axis=0, ddof=1)
    positive = sampling[sampling > 0]
    # A constant target's variance in float64 is round-off, not zero: dividing by it would swamp the mean.
    varies = sampling > 1e-10 * np.median(positive) if positive.size else np.zeros_like(sampling, dtype=bool)
    deviation = estimate - estimate.mean(axis=0)
    studentised = (
        np.mean(deviation[varies] ** 2 / sampling[varies]) * n_electrodes / (n_electrodes - 1)
        if varies.any()
        else np.nan
    )
    studentised *= (n_resamples - 3) / (n_resamples - 1)
    rho = _mean_correlation(boot, sampling)
    if not np.isfinite(studentised) or not rho < 1:
        log.warning(
            "bootstrap.inflation: the shifted null's scores have no finite studentised spread (%s) or no defined "
            "correlation below 1 across electrodes (%s); its resamples are left as drawn",
            studentised,
            rho,
        )
        return 1.0
    factor = float(np.sqrt(studentised / (1.0 - rho)))
    if rho > 0.5:
        log.warning(
            "bootstrap.inflation: the shifted null's electrodes correlate at %.2f on average, so their spread "
            "measures little of the sampling variance and the factor (%.2f) is unreliable",
            rho,
            factor,
        )
    return max(1.0, factor)


def _mean_correlation(boot: np.ndarray, sampling: np.ndarray) -> float:
    """Mean correlation of the resampled scores across electrodes, averaged over the bins that vary, floored at 0
    (NaN when none varies): from ``var*(mean) = mean var* (1 + (n - 1) rho) / n`` per bin."""
    n_electrodes = boot.shape[1]
    pooled = sampling.mean(axis=0)
    bins = pooled > 0
    if not bins.any():
        return float("nan")
    of_mean = boot.mean(axis=1).var(axis=0, ddof=1)[bins]
    return max(0.0, float(np.mean((n_electrodes * of_mean / pooled[bins] - 1) / (n_electrodes - 1))))


def inflate(boot: np.ndarray, estimate: np.ndarray, factor: float) -> np.ndarray:
    """Resampled scores widened around their estimate: ``estimate + factor * (boot - estimate)``.

    Parameters
    ----------
    boot : ndarray, shape (n_resamples, ...)
    estimate : ndarray, shape ``boot.shape[1:]``
    factor : float >= 1

    Returns
    -------
    ndarray of float32, shape ``boot.shape``, clipped to [-1, 1] (the range of a correlation); ``boot`` itself (as
    float32) when ``factor == 1``.
    """
    boot = np.asarray(boot, dtype=np.float32)
    if factor == 1.0:
        return boot
    centre = np.asarray(estimate, dtype=np.float32)
    return np.clip(centre + np.float32(factor) * (boot - centre), -1.0, 1.0).astype(np.float32)
