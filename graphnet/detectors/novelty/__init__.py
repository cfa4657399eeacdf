"""Categorical novelty: what the conversation between two hosts usually looks like, and how
surprising each connection of a window is against it.

The pure maths:

- `histograms`: per-edge component histograms in code form (from the engine's tables, or the
  pandas aggregation of connections, the twin of the engine's);
- `fingerprints`: per-pair fingerprints from edge histograms;
- `pairlevel`: a fingerprint's pair level as rows to store, and views of the pairs a batch
  needs made of those rows;
- `parts`: the parts of a connection's novelty (components, new pair / new host), their
  groups, `NoveltyParams`, and how parts add up to bits and a 0-1 score;
- `scored`: what scoring produces (`Scored`, and `PairKeys`: each pair at every level);
- `backoff`: bits per component against a pair's fingerprint with back-off to wider levels,
  and the who parts (vectorised);
- `explain`: phrases, explanations and summaries of what is novel;
- `model`: the connection scoring (`score_connections`, window p-values, uniqueness) and the
  `NoveltyDetector` model;
- `conversations`: connections grouped per pair into conversations (from connections, or
  from runs of equally novel ones);
- `reference`: `ReferenceScorer`, a slow per-row yardstick for tests and benchmarks;

With I/O:

- `baseline`: fingerprints as of a window from the archive (edge histograms aggregated by the
  analytical engine) and the graph's windows (the `fingerprints` step), stored for Neo4j
  Browser;
- `injection`: analysts' benign feedback re-injected into the fingerprints;
- `stored`: a window's scores kept through the archive door;
- `streamed`: a window's connections scored out of core (distinct combinations in batches,
  window-wide counts and joins by the engine);
- `scoring`: the `novelty` step (every connection scored, novel conversations);
- `paths`: the `paths` step (novel conversations chained into deviating paths).
"""
