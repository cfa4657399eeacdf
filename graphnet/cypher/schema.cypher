// graphnet schema: applied on first use, idempotent. The only file with several statements.
CREATE CONSTRAINT host_id IF NOT EXISTS FOR (h:Host) REQUIRE h.id IS UNIQUE;
CREATE CONSTRAINT ingest_sha256 IF NOT EXISTS FOR (i:Ingest) REQUIRE i.sha256 IS UNIQUE;
CREATE CONSTRAINT graphmeta_key IF NOT EXISTS FOR (m:GraphMeta) REQUIRE m.key IS UNIQUE;
CREATE CONSTRAINT finding_id IF NOT EXISTS FOR (f:Finding) REQUIRE f.id IS UNIQUE;
CREATE INDEX talked_window IF NOT EXISTS FOR ()-[r:TALKED]-() ON (r.window);
CREATE INDEX finding_window_kind IF NOT EXISTS FOR (f:Finding) ON (f.window, f.kind);
CREATE INDEX host_internal IF NOT EXISTS FOR (h:Host) ON (h.internal);
CREATE CONSTRAINT snapshot_window IF NOT EXISTS FOR (s:Snapshot) REQUIRE s.window IS UNIQUE;
CREATE CONSTRAINT fingerprint_id IF NOT EXISTS FOR (f:Fingerprint) REQUIRE f.id IS UNIQUE;
CREATE INDEX fingerprint_as_of IF NOT EXISTS FOR (f:Fingerprint) ON (f.as_of);
CREATE CONSTRAINT fingerprintset_as_of IF NOT EXISTS FOR (s:FingerprintSet) REQUIRE s.as_of IS UNIQUE;
CREATE CONSTRAINT feedback_id IF NOT EXISTS FOR (fb:Feedback) REQUIRE fb.id IS UNIQUE;
CREATE INDEX talked_key IF NOT EXISTS FOR ()-[r:TALKED]-() ON (r.key);
CREATE CONSTRAINT ingestgroup_id IF NOT EXISTS FOR (g:IngestGroup) REQUIRE g.id IS UNIQUE;
CREATE INDEX ingest_group IF NOT EXISTS FOR (i:Ingest) ON (i.group);
CREATE CONSTRAINT windowanalysis_window IF NOT EXISTS FOR (w:WindowAnalysis) REQUIRE w.window IS UNIQUE;
