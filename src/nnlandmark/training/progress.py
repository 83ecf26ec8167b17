"""One readable line per training epoch, for the console; nnU-Net's own messages stay in the log file."""

from __future__ import annotations

import logging
import math

PROGRESS_LOGGER = "nnlandmark.progress"
progress_log = logging.getLogger(PROGRESS_LOGGER)


def _duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s`` or ``2 h 07 min``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def epoch_line(
    *,
    dataset: str,
    fold: int,
    epoch: int,
    num_epochs: int,
    train_loss: float,
    val_mre_mm: float,
    epoch_seconds: float,
    mean_epoch_seconds: float,
) -> str:
    """``Dataset990_Demo fold 0 | epoch 3/20 | loss 5.123 | val patch MRE 4.21 mm | 15.8 s/epoch | ETA 4 min 28 s``.

    ``epoch`` counts from 1; the ETA is the remaining epochs at the mean epoch time so far.
    """
    mre = f"{val_mre_mm:.2f} mm" if math.isfinite(val_mre_mm) else "n/a (no landmark in the patches)"
    remaining = max(0, num_epochs - epoch) * mean_epoch_seconds
    return (f"{dataset} fold {fold} | epoch {epoch}/{num_epochs} | loss {train_loss:.4g} | val patch MRE {mre} | "
            f"{epoch_seconds:.1f} s/epoch | ETA {_duration(remaining)}")


def fold_line(*, dataset: str, fold: int, n_cases: int, mre_mm: float, seconds: float | None = None) -> str:
    """The fold's closing line: its whole-case validation MRE."""
    took = f" ({_duration(seconds)})" if seconds is not None else ""
    return f"{dataset} fold {fold} done{took} | whole-case validation: MRE {mre_mm:.2f} mm over {n_cases} cases"
