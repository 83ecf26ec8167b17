"""Conversion of landmark datasets into nnU-Net raw datasets (landmarks painted as label blobs)."""
