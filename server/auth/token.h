// File: server/auth/token.h
//
// API token secrets: "hpo_" + 48 hex digits (192 random bits from the OS), stored only as their
// SHA-256. A secret this long cannot be guessed, so a fast hash is the right one (a password
// hash's slowness would buy nothing and cost every call).
#ifndef HPO_SERVER_AUTH_TOKEN_H_
#define HPO_SERVER_AUTH_TOKEN_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hpo::auth {

// A new secret from the OS's random source. INTERNAL if it cannot be read.
absl::StatusOr<std::string> NewTokenSecret();
// Lower-case hex SHA-256 of `secret`.
std::string Sha256Hex(absl::string_view secret);
// Whether `secret` has the shape of a token secret (checked before any lookup).
bool LooksLikeTokenSecret(absl::string_view secret);

// The project of experiments created without one; also the project of a non-admin token
// created without one (only admin tokens reach every project).
inline constexpr char kDefaultProject[] = "default";
// A token's project must be one an experiment may have: [A-Za-z][A-Za-z0-9_.-]{0,127}.
// INVALID_ARGUMENT naming the field otherwise.
absl::Status CheckProjectName(absl::string_view project);

}  // namespace hpo::auth

#endif  // HPO_SERVER_AUTH_TOKEN_H_
