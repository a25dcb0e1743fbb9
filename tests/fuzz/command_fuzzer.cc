// Fuzz target: how hpo-worker --command turns a command template and an assignment into a
// /bin/sh script (worker/command_runner.h, CommandRunner::BuildCommandLine).
//
// Input: the template, then NUL-separated string values for the parameters p0, p1, ... (the
// template names them as {p0}, {p1}, ...), and after the values an optional number that p9
// holds. Then:
//   * the answer is a script or INVALID_ARGUMENT starting "command: ";
//   * the script does not depend on the values' text (values reach the shell only through the
//     variables it expands): stand-in values of the same kind give the same script;
// Crashes, sanitizer reports, timeouts and violations are bugs. The scripts are not run.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/fuzz/fuzz_util.h"
#include "worker/command_runner.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts = absl::StrSplit(input, '\0');
  const std::string command = parts[0];
  hpo::v1::Assignment assignment;
  for (size_t i = 1; i < parts.size() && i <= 8; ++i) {
    (*assignment.mutable_values())[absl::StrCat("p", i - 1)].set_string_value(parts[i]);
  }
  (*assignment.mutable_values())["p9"].set_number_value(static_cast<double>(size) / 7.0);

  absl::StatusOr<hpo::worker::CommandLine> line =
      hpo::worker::CommandRunner::BuildCommandLine(command, assignment);
  if (!line.ok()) {
    HPO_FUZZ_CHECK(line.status().code() == absl::StatusCode::kInvalidArgument &&
                       absl::StartsWith(line.status().message(), "command: "),
                   line.status().ToString());
    return 0;
  }
  // The script must not depend on what the strings hold, only on whether bash arithmetic could
  // read them as more than a word: the same assignment with stand-ins gives the same script.
  hpo::v1::Assignment stand_ins = assignment;
  for (auto& [name, value] : *stand_ins.mutable_values()) {
    if (value.kind_case() != hpo::v1::ParameterValue::kStringValue) continue;
    bool plain = true;
    for (char c : value.string_value()) {
      plain &= absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
               std::string("_.,:/@%+-").find(c) != std::string::npos;
    }
    value.set_string_value(plain ? "w" : "w w");
  }
  absl::StatusOr<hpo::worker::CommandLine> same =
      hpo::worker::CommandRunner::BuildCommandLine(command, stand_ins);
  HPO_FUZZ_CHECK(same.ok() && same->script == line->script,
                 absl::StrCat("the script depends on the values' text:\ncommand: ", command,
                              "\nscript: ", line->script, "\nwith stand-ins: ",
                              same.ok() ? same->script : same.status().ToString()));
  return 0;
}
