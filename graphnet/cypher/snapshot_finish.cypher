// Mark a window's snapshot complete, with its figures.
MATCH (s:Snapshot {window: $window})
SET s += $props, s.status = 'done', s.computed = datetime()
RETURN s.window AS window
