"""nnU-Net's fingerprint, planning and preprocessing stages, with our plan overrides."""
