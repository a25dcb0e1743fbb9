-- Initial schema: experiments, suggestions, observations, learning-curve checkpoints, workers.
-- Times are microseconds since the Unix epoch (UTC). Protos stored as BLOBs are read whole.

-- Schema bookkeeping beside PRAGMA user_version: the oldest binary schema version that can
-- still read this database (Chromium's MetaTable idea).
CREATE TABLE meta (
  key TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
) STRICT;
INSERT INTO meta (key, value) VALUES ('compatible_version', '1');

CREATE TABLE experiments (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  project TEXT NOT NULL,
  name TEXT NOT NULL,
  state INTEGER NOT NULL,
  -- hpo.v1.Experiment without id, state, times and progress.
  spec BLOB NOT NULL,
  observation_budget INTEGER NOT NULL,
  parallel_bandwidth INTEGER NOT NULL,
  create_time_us INTEGER NOT NULL,
  update_time_us INTEGER NOT NULL,
  UNIQUE (project, name)
) STRICT;

CREATE TABLE suggestions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
  state INTEGER NOT NULL,
  source TEXT NOT NULL,
  assignment BLOB NOT NULL,  -- hpo.v1.Assignment
  metadata BLOB,             -- hpo.v1.Suggestion with only metadata set
  worker_id TEXT,
  lease_expire_time_us INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0,
  create_time_us INTEGER NOT NULL,
  update_time_us INTEGER NOT NULL
) STRICT;
CREATE INDEX suggestions_by_experiment_state ON suggestions (experiment_id, state);
CREATE INDEX suggestions_by_worker ON suggestions (worker_id) WHERE worker_id IS NOT NULL;

CREATE TABLE observations (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
  -- NULL for observations reported with an assignment only; at most one per suggestion.
  suggestion_id INTEGER UNIQUE REFERENCES suggestions (id),
  assignment BLOB NOT NULL,  -- hpo.v1.Assignment
  failed INTEGER NOT NULL,
  failure_reason TEXT NOT NULL DEFAULT '',
  metadata BLOB,
  create_time_us INTEGER NOT NULL
) STRICT;
CREATE INDEX observations_by_experiment ON observations (experiment_id, id);

CREATE TABLE observation_values (
  observation_id INTEGER NOT NULL REFERENCES observations (id) ON DELETE CASCADE,
  metric TEXT NOT NULL,
  value REAL NOT NULL,
  stddev REAL,
  PRIMARY KEY (observation_id, metric)
) STRICT, WITHOUT ROWID;

-- Learning curves: one row per (suggestion, step, metric), as the pruners read them.
CREATE TABLE checkpoints (
  suggestion_id INTEGER NOT NULL REFERENCES suggestions (id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  metric TEXT NOT NULL,
  value REAL NOT NULL,
  elapsed_seconds REAL NOT NULL,
  create_time_us INTEGER NOT NULL,
  PRIMARY KEY (suggestion_id, step, metric)
) STRICT, WITHOUT ROWID;

CREATE TABLE workers (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  host TEXT NOT NULL,
  threads INTEGER NOT NULL,
  labels BLOB,
  register_time_us INTEGER NOT NULL,
  last_heartbeat_us INTEGER NOT NULL
) STRICT;
