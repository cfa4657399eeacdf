// Browser style labels: Internal / External on every Host from its `internal` property.
CALL () {
  MATCH (h:Host)
  WHERE h.internal = true AND (NOT h:Internal OR h:External)
  SET h:Internal
  REMOVE h:External
  RETURN count(h) AS internal
}
CALL () {
  MATCH (h:Host)
  WHERE coalesce(h.internal, false) = false AND (NOT h:External OR h:Internal)
  SET h:External
  REMOVE h:Internal
  RETURN count(h) AS external
}
RETURN internal, external
