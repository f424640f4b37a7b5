"""The model's accuracy and size: `evaluate` (accuracy as the board computes it),
`compress` (prune, cluster, distil, QAT: the driver; `prune`, `cluster`, `qat`, `distil`
the techniques, `_keras` their shared helpers), `record` (sensor readings from a board into
a CSV), `train` (a small model from those readings), `retrain` (the examples' helper)."""
