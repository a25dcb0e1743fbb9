-- The last checkpoint step reported in a suggestion's current lease attempt (attempts at the time):
-- steps increase within an attempt (resending the last one is a retry); the next attempt runs the
-- trial again from its first step. NULL: nothing reported yet (or before this was recorded).
ALTER TABLE suggestions ADD COLUMN report_attempt INTEGER;
ALTER TABLE suggestions ADD COLUMN report_step INTEGER;
