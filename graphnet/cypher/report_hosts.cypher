// Whether each of $hosts is internal (to mark hosts in the report).
MATCH (h:Host)
WHERE h.id IN $hosts
RETURN h.id AS host, h.internal AS internal
