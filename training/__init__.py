"""Offline pipeline: read a dataset, fit the feature contract, train an FM (optionally with
MixFM/SMFM augmentation) and export the ONNX scorer plus tables as a versioned artifact.

Nothing here is imported by the server; both sides share only :mod:`contract`.
"""
