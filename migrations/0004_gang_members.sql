-- Gang trials (TrainingSpec.ranks_per_trial > 1): the workers that hold places in a suggestion's
-- gang. Rank 0 also holds the suggestion's own lease (suggestions.worker_id). The gang is formed
-- (started) once it has ranks_per_trial rows; `released` marks a rank > 0 that finished.
CREATE TABLE gang_members (
  suggestion_id INTEGER NOT NULL REFERENCES suggestions (id) ON DELETE CASCADE,
  worker_id TEXT NOT NULL,
  rank INTEGER NOT NULL,
  lease_expire_time_us INTEGER NOT NULL,
  released INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (suggestion_id, worker_id)
);
CREATE INDEX gang_members_by_worker ON gang_members (worker_id);
