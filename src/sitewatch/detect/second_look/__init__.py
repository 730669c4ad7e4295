"""The second look: small models that read nose-up crops of the detector's items.

`crops` cuts the crops; `crop_reader` is what the classifiers share; `verifier` checks that
an item is there at all, `type_reader` and `state_reader` read its type and state, and
`box_refiner` its centre and axis. Each is an ONNX file beside the detector, found by name.
"""
