"""Heatmap training: targets, losses, the nnU-Net trainer subclass and fold runner."""
