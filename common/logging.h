// File: common/logging.h
//
// Minimal leveled logging to stderr (Abseil 20220623 has no absl/log).
//
//   HPO_LOG(INFO) << "listening on " << address;
//
// Lines look like `2026-11-26T05:53:38.123Z I server/main.cc:42] listening on ...`.
// Thread-safe: each line is written with a single write under a mutex.
#ifndef HPO_COMMON_LOGGING_H_
#define HPO_COMMON_LOGGING_H_

#include <sstream>
#include <string>

#include "absl/strings/string_view.h"

namespace hpo {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Sets the minimum level that is printed (default kInfo).
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();

// Parses "debug", "info", "warning" or "error" (case-insensitive). Returns false on anything else.
bool ParseLogLevel(absl::string_view text, LogLevel* level);

namespace logging_internal {

class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  ~LogMessage();
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

// Turns the streamed expression into void so HPO_LOG works as a statement in any if/else.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace logging_internal
}  // namespace hpo

#define HPO_LOG_LEVEL_DEBUG ::hpo::LogLevel::kDebug
#define HPO_LOG_LEVEL_INFO ::hpo::LogLevel::kInfo
#define HPO_LOG_LEVEL_WARNING ::hpo::LogLevel::kWarning
#define HPO_LOG_LEVEL_ERROR ::hpo::LogLevel::kError

#define HPO_LOG(severity)                                                      \
  (HPO_LOG_LEVEL_##severity < ::hpo::GetLogLevel())                            \
      ? (void)0                                                                \
      : ::hpo::logging_internal::Voidify() &                                   \
            ::hpo::logging_internal::LogMessage(HPO_LOG_LEVEL_##severity, __FILE__, \
                                                __LINE__)                      \
                .stream()

#endif  // HPO_COMMON_LOGGING_H_
