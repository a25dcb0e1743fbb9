// Fuzz target: bytes -> client::ParseExperimentSpec, the YAML entry point of spec files
// (hpo-cli create -f). Seeds: corpus/spec_yaml (deploy/examples and the spec unit tests).
//
// Errors are expected outputs (kInvalidArgument naming the source); crashes, sanitizer reports,
// exceptions escaping the parser, and violations of the invariants of fuzz_util.h
// (CheckAcceptedSpec: what is accepted survives the wire and a JSON round trip) are bugs.
#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/spec.h"
#include "hpo/v1/experiment.pb.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  hpo::fuzz::SilenceProtobufLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<hpo::v1::Experiment> experiment =
      hpo::client::ParseExperimentSpec(text, "fuzz.yaml");
  if (!experiment.ok()) {
    hpo::fuzz::CheckSpecError(experiment.status(), "fuzz.yaml");
    return 0;
  }
  hpo::fuzz::CheckAcceptedSpec(*experiment);
  return 0;
}
