// File: tests/fuzz/fuzz_util.h
//
// Shared by the fuzz targets: invariant checks that abort (libFuzzer saves the input as a
// crash), protobuf log silencing, NaN-tolerant message equality, and the round trips every
// spec the parser accepts must survive.
#ifndef HPO_TESTS_FUZZ_FUZZ_UTIL_H_
#define HPO_TESTS_FUZZ_FUZZ_UTIL_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "client/spec.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/message.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/field_comparator.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "hpo/v1/experiment.pb.h"

namespace hpo::fuzz {

// Prints `what` and `detail` and aborts: an invariant violation is a bug like a crash.
[[noreturn]] inline void Fail(const char* file, int line, const char* condition,
                              const std::string& detail) {
  std::fprintf(stderr, "\n==== fuzz invariant violated at %s:%d: %s\n%s\n", file, line, condition,
               detail.c_str());
  std::fflush(stderr);
  std::abort();
}

#define HPO_FUZZ_CHECK(condition, detail)                                          \
  do {                                                                             \
    if (!(condition)) ::hpo::fuzz::Fail(__FILE__, __LINE__, #condition, (detail)); \
  } while (0)

// protobuf logs an ERROR for every string with invalid UTF-8 it serializes, and so on: keep
// the fuzzer's output readable. Fatal messages still print (and abort).
inline void SilenceProtobufLogs() {
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel level, const char* filename,
                                     int line, const std::string& message) {
    if (level == google::protobuf::LOGLEVEL_FATAL) {
      std::fprintf(stderr, "[libprotobuf FATAL %s:%d] %s\n", filename, line, message.c_str());
    }
  });
}

// Reads a fuzz input as protobuf text format (the seeds are text) or, when it is not valid text,
// as binary wire format. False when it is neither.
inline bool ParseTextOrBinary(const uint8_t* data, size_t size, google::protobuf::Message* input) {
  class SilentErrors : public google::protobuf::io::ErrorCollector {
   public:
    void AddError(int, google::protobuf::io::ColumnNumber, const std::string&) override {}
    void AddWarning(int, google::protobuf::io::ColumnNumber, const std::string&) override {}
  } errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (parser.ParseFromString(std::string(reinterpret_cast<const char*>(data), size), input)) {
    return true;
  }
  input->Clear();
  return input->ParseFromArray(data, static_cast<int>(size));
}

inline std::string ToText(const google::protobuf::Message& message) {
  std::string text;
  google::protobuf::TextFormat::PrintToString(message, &text);
  return text;
}

// Clears, recursively, the numeric fields without presence that hold zero. A proto3 double
// set to -0.0 counts as set (its bits are not zero) although it equals the default: protobuf's
// JSON parser drops `"weight": -0`, the spec parser keeps it, and both mean 0.
inline void ClearZeros(google::protobuf::Message* message) {
  const google::protobuf::Reflection* reflection = message->GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(*message, &fields);
  for (const google::protobuf::FieldDescriptor* field : fields) {
    if (field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(*message, field); ++i) {
          ClearZeros(reflection->MutableRepeatedMessage(message, field, i));
        }
      } else {
        ClearZeros(reflection->MutableMessage(message, field));
      }
    } else if (!field->is_repeated() && !field->has_presence() &&
               ((field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_DOUBLE &&
                 reflection->GetDouble(*message, field) == 0) ||
                (field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_FLOAT &&
                 reflection->GetFloat(*message, field) == 0))) {
      reflection->ClearField(message, field);
    }
  }
}

// Field-by-field equality where NaN equals NaN (`.nan` in a spec is a legal double) and -0.0
// equals an unset field (ClearZeros).
inline bool SameMessage(const google::protobuf::Message& a, const google::protobuf::Message& b,
                        std::string* report) {
  std::unique_ptr<google::protobuf::Message> a_copy(a.New()), b_copy(b.New());
  a_copy->CopyFrom(a);
  b_copy->CopyFrom(b);
  ClearZeros(a_copy.get());
  ClearZeros(b_copy.get());
  google::protobuf::util::DefaultFieldComparator comparator;
  comparator.set_treat_nan_as_equal(true);
  google::protobuf::util::MessageDifferencer differencer;
  differencer.set_field_comparator(&comparator);
  differencer.ReportDifferencesToString(report);
  return differencer.Compare(*a_copy, *b_copy);
}

// YAML allows an implicit mapping key of at most 1024 characters (up to its ':'), so a JSON
// document with a longer key is not YAML; yaml-cpp says "end of map flow not found". A key of
// more than kLongKeyBytes bytes may reach that length in JSON (6 characters per byte, as
// "\u0000"). A limit of the format, not a bug: validation caps metadata keys at 128 characters.
inline constexpr size_t kLongKeyBytes = 160;

inline bool HasLongMapKey(const hpo::v1::Experiment& experiment) {
  for (const auto* map : {&experiment.metadata(), &experiment.training().parameter_mapping(),
                          &experiment.training().fixed_options()}) {
    for (const auto& [key, value] : *map) {
      if (key.size() > kLongKeyBytes) return true;
    }
  }
  return false;
}

// Invariants of a spec that ParseExperimentSpec accepted:
//  1. it can be sent: the wire form parses back (proto3 rejects strings that are not UTF-8,
//     so gRPC would fail the request without naming the field) to an equal message;
//  2. protobuf's own JSON rendering of it is a spec that parses back to an equal message
//     (the README promises that JSON spec files work, JSON field names included), unless a
//     map key is too long for YAML (HasLongMapKey).
inline void CheckAcceptedSpec(const hpo::v1::Experiment& experiment) {
  std::string wire;
  HPO_FUZZ_CHECK(experiment.SerializeToString(&wire), ToText(experiment));
  hpo::v1::Experiment from_wire;
  HPO_FUZZ_CHECK(from_wire.ParseFromString(wire),
                 "the spec parser accepted a message that does not survive the wire "
                 "(a string field that is not UTF-8?):\n" + ToText(experiment));
  std::string report;
  HPO_FUZZ_CHECK(SameMessage(experiment, from_wire, &report), report);

  std::string json;
  const auto printed = google::protobuf::util::MessageToJsonString(experiment, &json);
  HPO_FUZZ_CHECK(printed.ok(), printed.ToString());
  absl::StatusOr<hpo::v1::Experiment> reparsed = client::ParseExperimentSpec(json, "printed.json");
  if (!reparsed.ok() && HasLongMapKey(experiment)) return;
  HPO_FUZZ_CHECK(reparsed.ok(), std::string(reparsed.status().message()) + "\nJSON:\n" + json +
                                    "\nfrom:\n" + ToText(experiment));
  report.clear();
  HPO_FUZZ_CHECK(SameMessage(experiment, *reparsed, &report),
                 report + "\nJSON:\n" + json + "\nfrom:\n" + ToText(experiment));
}

// Errors are expected outputs, but only of the documented kind and shape:
// kInvalidArgument, "<source>:<line>: ..." or "<source>: ...".
inline void CheckSpecError(const absl::Status& status, absl::string_view source) {
  HPO_FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument, status.ToString());
  HPO_FUZZ_CHECK(absl::StartsWith(status.message(), source) &&
                     status.message().size() > source.size() &&
                     (status.message()[source.size()] == ':'),
                 status.ToString());
}

}  // namespace hpo::fuzz

#endif  // HPO_TESTS_FUZZ_FUZZ_UTIL_H_
