// Open (or reopen) the snapshot of a window; it is not read as history until finished.
MERGE (s:Snapshot {window: $window})
  ON CREATE SET s.created = datetime()
SET s.status = 'writing', s.started = datetime()
RETURN s.window AS window
