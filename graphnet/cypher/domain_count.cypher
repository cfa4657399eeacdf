// How many Domain nodes the graph holds.
MATCH (d:Domain) RETURN count(d) AS n
