-- The hosts of a window's snapshot graph in code order (0, 1, ... = sorted host ids), with
-- their exact distinct destination port counts. Runs after snapshot_pairs, in its session.
SELECT code, host, dports_out, dports_in
FROM snapshot_host_codes
ORDER BY code
