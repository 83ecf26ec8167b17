"""nnU-Net's fingerprint, planning and preprocessing stages, with our overrides of plans and intensities."""
