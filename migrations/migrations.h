// File: migrations/migrations.h
//
// The schema migrations in migrations/NNNN_description.sql, embedded at build time.
// Files are append-only: a released file is never edited; a change of schema is a new file.
#ifndef HPO_MIGRATIONS_MIGRATIONS_H_
#define HPO_MIGRATIONS_MIGRATIONS_H_

#include <vector>

namespace hpo::migrations {

struct Migration {
  int version;       // NNNN from the file name, starting at 1, without gaps
  const char* name;  // file name
  const char* sql;   // the file's contents: one or more statements
};

// Every migration, ordered by version.
const std::vector<Migration>& All();

}  // namespace hpo::migrations

#endif  // HPO_MIGRATIONS_MIGRATIONS_H_
