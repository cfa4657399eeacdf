-- How many connections of the bound `conns` had each (proto, service, dport, conn_state)
-- tuple: the counts behind a connection's uniqueness.
SELECT proto, service, dport, conn_state, CAST(COUNT(*) AS DOUBLE) AS n
FROM conns_parts
GROUP BY proto, service, dport, conn_state
ORDER BY proto, service, dport, conn_state
