-- Worker leases and prune decisions.

-- Why and at which step the pruner or the regulator stopped a trial ('' and 0 when it did not).
ALTER TABLE suggestions ADD COLUMN stop_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE suggestions ADD COLUMN stop_step INTEGER NOT NULL DEFAULT 0;

-- Finds expired leases without scanning every suggestion.
CREATE INDEX suggestions_by_lease ON suggestions (lease_expire_time_us)
  WHERE lease_expire_time_us IS NOT NULL;
