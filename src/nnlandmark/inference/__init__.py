"""Prediction: nnU-Net's sliding window, fold ensembling, heatmap decoding and mapping to LPS mm."""
