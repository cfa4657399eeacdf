-- The edges of a window's snapshot graph: one row per directed pair of distinct hosts, as host
-- codes (snapshot_host_codes), with its connections and bytes (both directions), ordered by source
-- then destination code. Runs after snapshot_pairs, in its session.
SELECT s.code AS src, d.code AS dst, CAST(SUM(p.conns) AS BIGINT) AS conns,
       SUM(p.src_bytes) + SUM(p.dst_bytes) AS bytes
FROM snapshot_pair_ports p
JOIN snapshot_host_codes s ON s.host = p.src
JOIN snapshot_host_codes d ON d.host = p.dst
WHERE p.src <> p.dst
GROUP BY s.code, d.code
ORDER BY s.code, d.code
