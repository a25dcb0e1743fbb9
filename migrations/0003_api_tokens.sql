-- API tokens: only the SHA-256 of a secret is stored.
CREATE TABLE api_tokens (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  secret_sha256 TEXT NOT NULL UNIQUE,
  role INTEGER NOT NULL CHECK (role BETWEEN 1 AND 4),
  project TEXT NOT NULL DEFAULT '',
  create_time_us INTEGER NOT NULL,
  revoke_time_us INTEGER
) STRICT;
