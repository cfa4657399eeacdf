// Host.subnet and Host.internal of the given host ids (hosts absent from the graph give no row).
UNWIND $ids AS id
MATCH (h:Host {id: id})
RETURN h.id AS id, h.subnet AS subnet, h.internal AS internal
