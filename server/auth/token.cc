#include "server/auth/token.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace hpo::auth {

absl::StatusOr<std::string> NewTokenSecret() {
  unsigned char bytes[24];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError("cannot read random bytes for a token");
  }
  return absl::StrCat("hpo_", absl::BytesToHexString(absl::string_view(
                                  reinterpret_cast<const char*>(bytes), sizeof(bytes))));
}

std::string Sha256Hex(absl::string_view secret) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(secret.data(), secret.size(), digest, &length, EVP_sha256(), nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), length));
}

bool LooksLikeTokenSecret(absl::string_view secret) {
  if (secret.size() != 52 || !absl::StartsWith(secret, "hpo_")) return false;
  for (char c : secret.substr(4)) {
    if (!absl::ascii_isxdigit(c)) return false;
  }
  return true;
}

absl::Status CheckProjectName(absl::string_view project) {
  const auto letter = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
  bool ok = !project.empty() && project.size() <= 128 && letter(project[0]);
  for (size_t i = 1; ok && i < project.size(); ++i) {
    const char c = project[i];
    ok = letter(c) || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  }
  if (ok) return absl::OkStatus();
  const absl::string_view shown = project.substr(0, 64);
  return absl::InvalidArgumentError(absl::StrCat("project: \"", absl::CHexEscape(shown),
                                                 project.size() > shown.size() ? "...\"" : "\"",
                                                 " must match [A-Za-z][A-Za-z0-9_.-]{0,127}"));
}

}  // namespace hpo::auth
