// Fuzz target: bytes -> client::ParseExperimentSpec on JSON documents (spec files may be JSON,
// which YAML 1.2 contains). Seeds: corpus/spec_json.
//
// On top of the invariants of spec_yaml_fuzzer (fuzz_util.h), a differential check against
// protobuf's own JSON parser (google::protobuf::util::JsonStringToMessage): the spec format
// promises proto3 JSON field names and values, so when protobuf reads a JSON document as an
// hpo.v1.Experiment, the spec parser must read it too, to the same message. The spec parser may
// accept more (short enum names, yes/no, numbers for strings), never less. Only RFC 8259 JSON
// counts (nlohmann::json::accept): protobuf 3.21 also takes escapes such as "\|".
//
//  * canonical form: the document as nlohmann::json::dump writes it (one line, keys once,
//    non-ASCII characters as UTF-8): no exception, but for keys too long for YAML
//    (fuzz_util.h, HasLongMapKey);
//  * the bytes as given: the same, except for the documented differences of KnownDifference.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "client/spec.h"
#include "google/protobuf/util/json_util.h"
#include "hpo/v1/experiment.pb.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_util.h"

namespace {

// Layouts of JSON that the spec parser refuses on purpose or by a known limitation of yaml-cpp
// 0.7 (docs/design.md, "Fuzzing"); the canonical form of such a document has none of them.
bool KnownDifference(const absl::Status& spec_error) {
  const absl::string_view message = spec_error.message();
  // By design: a field or map key given twice is an error in a spec (protobuf keeps the last).
  if (absl::StrContains(message, "given more than once")) return true;
  // yaml-cpp's scanner: it decodes each \uXXXX escape alone, so a UTF-16 surrogate pair such as
  // "\ud83d\ude00" is "invalid unicode" (write the character itself, or "\U0001F600"); and it
  // wants a key and its ':' on one line ("end of map flow not found").
  if (absl::StartsWith(message, "fuzz.json:") && absl::StrContains(message, ": invalid YAML: ")) {
    return true;
  }
  return false;
}

// True if some object key of `document` is longer than kLongKeyBytes (see fuzz_util.h).
bool HasLongKey(const nlohmann::json& document) {
  if (document.is_object()) {
    for (const auto& [key, value] : document.items()) {
      if (key.size() > hpo::fuzz::kLongKeyBytes || HasLongKey(value)) return true;
    }
  } else if (document.is_array()) {
    for (const nlohmann::json& element : document) {
      if (HasLongKey(element)) return true;
    }
  }
  return false;
}

// True if `message` holds an enum number its enum does not name. Proto3 JSON accepts any
// number for an open enum ("strategy": 4); a spec names its values and refuses other numbers, on
// purpose (the error lists the valid names).
bool HasUnknownEnumValue(const google::protobuf::Message& message) {
  const google::protobuf::Reflection* reflection = message.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const google::protobuf::FieldDescriptor* field : fields) {
    using FD = google::protobuf::FieldDescriptor;
    const int count = field->is_repeated() ? reflection->FieldSize(message, field) : 1;
    for (int i = 0; i < count; ++i) {
      if (field->cpp_type() == FD::CPPTYPE_ENUM) {
        const int number = field->is_repeated() ? reflection->GetRepeatedEnumValue(message, field, i)
                                                : reflection->GetEnumValue(message, field);
        if (field->enum_type()->FindValueByNumber(number) == nullptr) return true;
      } else if (field->cpp_type() == FD::CPPTYPE_MESSAGE) {
        const google::protobuf::Message& sub =
            field->is_repeated() ? reflection->GetRepeatedMessage(message, field, i)
                                 : reflection->GetMessage(message, field);
        if (HasUnknownEnumValue(sub)) return true;
      }
    }
  }
  return false;
}

// Protobuf's reading of `json` (if any) must be the spec parser's.
void Differential(const std::string& json, const absl::StatusOr<hpo::v1::Experiment>& spec,
                  bool allow_known_differences) {
  hpo::v1::Experiment canonical;
  const auto json_status = google::protobuf::util::JsonStringToMessage(json, &canonical);
  if (!json_status.ok()) return;
  if (!spec.ok() && HasUnknownEnumValue(canonical)) return;
  if (!spec.ok() && allow_known_differences && KnownDifference(spec.status())) return;
  HPO_FUZZ_CHECK(spec.ok(), "protobuf's JSON parser accepts the document, the spec parser says: " +
                                std::string(spec.status().message()) + "\nprotobuf parsed:\n" +
                                hpo::fuzz::ToText(canonical) + "\nJSON:\n" + json);
  std::string report;
  HPO_FUZZ_CHECK(hpo::fuzz::SameMessage(canonical, *spec, &report),
                 "the spec parser and protobuf's JSON parser disagree:\n" + report + "\nJSON:\n" +
                     json);
}

absl::StatusOr<hpo::v1::Experiment> Parse(absl::string_view text) {
  absl::StatusOr<hpo::v1::Experiment> spec = hpo::client::ParseExperimentSpec(text, "fuzz.json");
  if (spec.ok()) {
    hpo::fuzz::CheckAcceptedSpec(*spec);
  } else {
    hpo::fuzz::CheckSpecError(spec.status(), "fuzz.json");
  }
  return spec;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  hpo::fuzz::SilenceProtobufLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<hpo::v1::Experiment> spec = Parse(text);

  const nlohmann::json document = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return 0;
  Differential(text, spec, /*allow_known_differences=*/true);
  const std::string canonical = document.dump();
  Differential(canonical, Parse(canonical), /*allow_known_differences=*/HasLongKey(document));
  return 0;
}
