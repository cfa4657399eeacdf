// Browser style labels: PageRankTop1 / PageRankTop5 / PageRankTop20 on the hosts in the top 1 %,
// 5 % and 20 % by PageRank in the snapshot of $window (the labels of earlier runs are removed).
OPTIONAL MATCH (old:Host)
WHERE old:PageRankTop1 OR old:PageRankTop5 OR old:PageRankTop20
REMOVE old:PageRankTop1:PageRankTop5:PageRankTop20
WITH count(old) AS cleared
OPTIONAL MATCH (s:Snapshot {window: $window, status: 'done'})-[m:MEASURED]->(h:Host)
WITH cleared, h, m ORDER BY m.pagerank DESC, h.id
WITH cleared, [x IN collect(h) WHERE x IS NOT NULL] AS hosts
WITH cleared, hosts, size(hosts) AS n
CALL (hosts, n) {
  UNWIND range(0, n - 1) AS i
  WITH hosts[i] AS h, i
  WHERE i < ceil(n * 0.20)
  FOREACH (_ IN CASE WHEN i < ceil(n * 0.01) THEN [1] ELSE [] END | SET h:PageRankTop1)
  FOREACH (_ IN CASE WHEN i >= ceil(n * 0.01) AND i < ceil(n * 0.05) THEN [1] ELSE [] END |
    SET h:PageRankTop5)
  FOREACH (_ IN CASE WHEN i >= ceil(n * 0.05) THEN [1] ELSE [] END | SET h:PageRankTop20)
  RETURN count(h) AS labelled
}
RETURN cleared, n AS hosts, labelled
