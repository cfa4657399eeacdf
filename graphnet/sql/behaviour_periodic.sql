-- The behaviour detector: how regular the candidate pairs (b_pp) are. The gaps between
-- consecutive answered connections of a pair (b_rows) that are over 0; with at least five,
-- their median is the period; without the pauses (gaps over 4 x the period), with at least
-- five left, their median med and the median absolute deviation mad. A median of k values is
-- the middle one, or the mean of the two middle ones (numpy's). One row per port of the pair.
CREATE OR REPLACE TEMP TABLE b_gaps AS
SELECT s, d, gap FROM (
  SELECT r.s, r.d, r.ts - LAG(r.ts) OVER (PARTITION BY r.s, r.d ORDER BY r.ts) AS gap
  FROM b_rows r JOIN b_pp pp ON pp.s = r.s AND pp.d = r.d
  WHERE r.ok = 1
) g
WHERE gap > 0;
CREATE OR REPLACE TEMP TABLE b_period AS
SELECT s, d, (MIN(gap) + MAX(gap)) / 2 AS period FROM (
  SELECT s, d, gap, ROW_NUMBER() OVER (PARTITION BY s, d ORDER BY gap) AS i,
         COUNT(*) OVER (PARTITION BY s, d) AS cnt
  FROM b_gaps
) r
WHERE 2 * i BETWEEN cnt AND cnt + 2 AND cnt >= 5
GROUP BY s, d;
CREATE OR REPLACE TEMP TABLE b_kept AS
SELECT g.s, g.d, g.gap FROM b_gaps g JOIN b_period m ON m.s = g.s AND m.d = g.d
WHERE g.gap <= 4.0 * m.period;
CREATE OR REPLACE TEMP TABLE b_med AS
SELECT s, d, (MIN(gap) + MAX(gap)) / 2 AS med FROM (
  SELECT s, d, gap, ROW_NUMBER() OVER (PARTITION BY s, d ORDER BY gap) AS i,
         COUNT(*) OVER (PARTITION BY s, d) AS cnt
  FROM b_kept
) r
WHERE 2 * i BETWEEN cnt AND cnt + 2 AND cnt >= 5
GROUP BY s, d;
CREATE OR REPLACE TEMP TABLE b_mad AS
SELECT s, d, (MIN(dev) + MAX(dev)) / 2 AS mad FROM (
  SELECT s, d, dev, ROW_NUMBER() OVER (PARTITION BY s, d ORDER BY dev) AS i,
         COUNT(*) OVER (PARTITION BY s, d) AS cnt
  FROM (SELECT k.s, k.d, ABS(k.gap - m.med) AS dev
        FROM b_kept k JOIN b_med m ON m.s = k.s AND m.d = k.d) a
) r
WHERE 2 * i BETWEEN cnt AND cnt + 2
GROUP BY s, d;
SELECT p.s, p.d, c.port, pp.n, p.period, m.med, a.mad
FROM b_period p
JOIN b_pp pp ON pp.s = p.s AND pp.d = p.d
JOIN (SELECT s, d, port FROM b_cur WHERE ok > 0 GROUP BY s, d, port) c
  ON c.s = p.s AND c.d = p.d
LEFT JOIN b_med m ON m.s = p.s AND m.d = p.d
LEFT JOIN b_mad a ON a.s = p.s AND a.d = p.d
