"""Training: datasets, targets, the detector network and its trainers, export and quantisation.

Needs the `train` extra (torch, onnx). The runtime packages never import it; it imports the
runtime (readers, geometry) and the simulator that renders its chips.
"""
