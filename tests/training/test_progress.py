"""Training progress: one readable line per epoch on the console, nnU-Net's messages in the log file only."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from nnlandmark.training.progress import epoch_line, fold_line


def test_epoch_line_says_where_training_is_how_good_and_when_it_ends() -> None:
    line = epoch_line(dataset="Dataset990_Demo", fold=1, epoch=3, num_epochs=20, train_loss=5.1234,
                      val_mre_mm=4.216, epoch_seconds=15.84, mean_epoch_seconds=16.0)
    assert line == ("Dataset990_Demo fold 1 | epoch 3/20 | loss 5.123 | val patch MRE 4.22 mm | 15.8 s/epoch | "
                    "ETA 4 min 32 s")
    last = epoch_line(dataset="D", fold=0, epoch=20, num_epochs=20, train_loss=1.0, val_mre_mm=float("nan"),
                      epoch_seconds=2.0, mean_epoch_seconds=2.0)
    assert last.endswith("val patch MRE n/a (no landmark in the patches) | 2.0 s/epoch | ETA 0 s")
    long = epoch_line(dataset="D", fold=0, epoch=1, num_epochs=1000, train_loss=1.0, val_mre_mm=1.0,
                      epoch_seconds=60.0, mean_epoch_seconds=60.0)
    assert long.endswith("ETA 16 h 39 min")
    assert fold_line(dataset="D", fold=2, n_cases=4, mre_mm=1.234) == (
        "D fold 2 done | whole-case validation: MRE 1.23 mm over 4 cases")


def test_console_gets_progress_lines_and_the_log_gets_everything(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    script = textwrap.dedent(f"""
        import logging
        from nnlandmark.script_logging import log_to_file
        from nnlandmark.training.progress import progress_log
        log_to_file({str(log)!r}, echo=False)
        print("2026-11-29 10:00:00: Pseudo dice [np.float64(0.0184)]")  # how nnU-Net's trainer reports
        logging.getLogger("nnunetv2").info("plans: {{...}}")
        progress_log.info("Demo fold 0 | epoch 1/2 | loss 3.2")
        logging.getLogger("nnlandmark.training").warning("fold 0: retraining")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    console = result.stdout + result.stderr
    assert "Demo fold 0 | epoch 1/2 | loss 3.2" in console
    assert "fold 0: retraining" in console  # warnings still reach the console
    assert "Pseudo dice" not in console and "plans:" not in console
    written = log.read_text()
    for text in ("Pseudo dice [np.float64(0.0184)]", "plans: {...}", "epoch 1/2", "fold 0: retraining"):
        assert text in written
