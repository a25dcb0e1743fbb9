// Not a fuzz target: helps maintain the seed corpora and the dictionary.
//   fuzz_seed_tool textproto SPEC   the spec file (YAML/JSON) as an hpo.fuzz.ValidationInput in
//                                   text format, for corpus/validation/
//   fuzz_seed_tool json SPEC        the spec as protobuf's JSON rendering, for corpus/spec_json/
//   fuzz_seed_tool dict             libFuzzer dictionary entries: every field name (proto and
//                                   JSON spelling) and enum value name (full and short) reachable
//                                   from hpo.v1.Experiment, for hpo.dict
#include <cstdio>
#include <iostream>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "client/spec.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "hpo/v1/experiment.pb.h"
#include "hpo_fuzz/validation_input.pb.h"

namespace {

// "ParameterType" -> "PARAMETER_TYPE".
std::string EnumPrefix(const std::string& type_name) {
  std::string prefix;
  for (size_t i = 0; i < type_name.size(); ++i) {
    const char c = type_name[i];
    if (absl::ascii_isupper(c) && i > 0 && !absl::ascii_isupper(type_name[i - 1])) {
      prefix.push_back('_');
    }
    prefix.push_back(absl::ascii_toupper(c));
  }
  return prefix;
}

void Collect(const google::protobuf::Descriptor* type, std::set<const void*>* seen,
             std::set<std::string>* words) {
  if (!seen->insert(type).second) return;
  for (int i = 0; i < type->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = type->field(i);
    words->insert(field->name());
    words->insert(field->json_name());
    if (const google::protobuf::EnumDescriptor* e = field->enum_type()) {
      for (int v = 0; v < e->value_count(); ++v) {
        const std::string& name = e->value(v)->name();
        words->insert(name);
        // PARAMETER_TYPE_DOUBLE -> double, as spec files write it (client/spec.h).
        const std::string prefix = EnumPrefix(e->name()) + "_";
        if (absl::StartsWith(name, prefix)) {
          words->insert(absl::AsciiStrToLower(name.substr(prefix.size())));
        }
      }
    }
    if (field->message_type() != nullptr) Collect(field->message_type(), seen, words);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if ((mode == "textproto" || mode == "json") && argc == 3) {
    absl::StatusOr<hpo::v1::Experiment> experiment = hpo::client::LoadExperimentSpec(argv[2]);
    if (!experiment.ok()) {
      std::cerr << experiment.status() << "\n";
      return 1;
    }
    if (mode == "json") {
      google::protobuf::util::JsonPrintOptions options;
      options.add_whitespace = true;
      options.preserve_proto_field_names = false;
      std::string json;
      if (!google::protobuf::util::MessageToJsonString(*experiment, &json, options).ok()) return 1;
      std::cout << json;
      return 0;
    }
    hpo::fuzz::ValidationInput input;
    *input.mutable_experiment() = *experiment;
    std::string text;
    google::protobuf::TextFormat::PrintToString(input, &text);
    std::cout << text;
    return 0;
  }
  if (mode == "dict") {
    std::set<const void*> seen;
    std::set<std::string> words;
    Collect(hpo::fuzz::ValidationInput::descriptor(), &seen, &words);
    for (const std::string& word : words) std::cout << "\"" << word << "\"\n";
    return 0;
  }
  std::cerr << "usage: fuzz_seed_tool textproto SPEC | json SPEC | dict\n";
  return 2;
}
