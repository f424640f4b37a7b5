"""From a trained model to the layers of a `.mote`: `keras_import` (Keras -> int8
.tflite), `tflite_reader` (.tflite -> `graph.Graph`), `converter` (graph rewrites,
per-op prepare, packing), `interleave` (the interleaved weight layout and its rules),
`planner` (the activation arena). `graph.ModelError` is every bad-input error."""
