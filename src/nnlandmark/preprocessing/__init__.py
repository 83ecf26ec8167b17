"""nnU-Net's preprocessing, with the landmark blobs drawn again on the target grid."""
