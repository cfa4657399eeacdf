"""The evaluation: every detector against ground truth, on generated and labelled data.

- `truth`: what is positive in a window (a generator's truth.json, or label columns);
- `metrics`: ranking metrics, host ranks, the top-3 criterion, pooling over windows;
- `harness`: the detectors run through the pipeline (nothing saved) and scored against truth;
- `figures`: the Markdown figures of docs/evaluation.md;
- `sets`: the data sets behind those figures (`evaluate_all`).

Nothing in the product imports this package.
"""
