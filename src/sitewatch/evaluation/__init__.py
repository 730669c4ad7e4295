"""Evaluation: detection and change-event scoring, simulated-site harnesses and detector noise.

Measures the runtime against known answers. The runtime packages never import it.
"""
