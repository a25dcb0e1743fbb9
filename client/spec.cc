#include "client/spec.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/time_util.h"
#include "yaml-cpp/yaml.h"

namespace hpo::client {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::EnumDescriptor;
using ::google::protobuf::EnumValueDescriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::OneofDescriptor;
using ::google::protobuf::Reflection;

constexpr char kParameterValueType[] = "hpo.v1.ParameterValue";
constexpr char kParameterTypeEnum[] = "hpo.v1.ParameterType";

// "abc" with C escapes, for error messages.
std::string Quote(absl::string_view text) {
  return absl::StrCat("\"", absl::CHexEscape(text), "\"");
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      return Quote(node.Scalar());
    default:
      return "nothing";
  }
}

// "ParameterType" -> "PARAMETER_TYPE": the prefix protoc style puts on enum value names.
std::string EnumPrefix(absl::string_view type_name) {
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

// The value names users write: the part after the prefix, lowercase.
std::string ShortEnumNames(const EnumDescriptor* type) {
  const std::string prefix = EnumPrefix(type->name()) + "_";
  std::vector<std::string> names;
  for (int i = 0; i < type->value_count(); ++i) {
    const std::string& name = type->value(i)->name();
    if (type->value(i)->number() == 0 && absl::EndsWith(name, "UNSPECIFIED")) continue;
    names.push_back(
        absl::AsciiStrToLower(absl::StartsWith(name, prefix) ? name.substr(prefix.size()) : name));
  }
  return absl::StrJoin(names, ", ");
}

const EnumValueDescriptor* FindEnumValue(const EnumDescriptor* type, absl::string_view text) {
  std::string upper = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(text));
  std::replace(upper.begin(), upper.end(), '-', '_');
  std::replace(upper.begin(), upper.end(), ' ', '_');
  if (const EnumValueDescriptor* value = type->FindValueByName(upper)) return value;
  if (const EnumValueDescriptor* value =
          type->FindValueByName(absl::StrCat(EnumPrefix(type->name()), "_", upper))) {
    return value;
  }
  int number = 0;
  if (absl::SimpleAtoi(text, &number)) return type->FindValueByNumber(number);
  return nullptr;
}

std::optional<double> ParseDouble(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == ".inf" || lower == "+.inf") return std::numeric_limits<double>::infinity();
  if (lower == "-.inf") return -std::numeric_limits<double>::infinity();
  if (lower == ".nan") return std::numeric_limits<double>::quiet_NaN();
  double value = 0;
  if (text.empty() || !absl::SimpleAtod(text, &value)) return std::nullopt;
  return value;
}

// Integers, also written as integral doubles ("8e3", "10.0"); nullopt when not integral or out
// of range.
template <typename Int>
std::optional<Int> ParseInteger(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  Int value = 0;
  if (absl::SimpleAtoi(text, &value)) return value;
  std::optional<double> number = ParseDouble(text);
  if (!number || !std::isfinite(*number) || std::floor(*number) != *number) return std::nullopt;
  // Doubles beyond 2^53 are not exact anyway; compare in long double to stay safe at the ends.
  const long double wide = *number;
  if (wide < static_cast<long double>(std::numeric_limits<Int>::min()) ||
      wide > static_cast<long double>(std::numeric_limits<Int>::max())) {
    return std::nullopt;
  }
  return static_cast<Int>(*number);
}

std::optional<bool> ParseBool(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (lower == "true" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "no" || lower == "off") return false;
  return std::nullopt;
}

// True if `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF). proto3 requires it of string fields: a message with other bytes serializes,
// but its receiver (hpo-server) refuses to parse it, and the request fails without naming the
// field. yaml-cpp passes such bytes through from the file.
bool IsUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t extra;
    uint32_t code_point, smallest;
    if ((lead & 0xE0) == 0xC0) {
      extra = 1, code_point = lead & 0x1F, smallest = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      extra = 2, code_point = lead & 0x0F, smallest = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      extra = 3, code_point = lead & 0x07, smallest = 0x10000;
    } else {
      return false;
    }
    if (text.size() - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const unsigned char next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    if (code_point < smallest || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

// YAML 1.2 line breaks are "\r\n", "\r" and "\n", and a YAML processor turns each into "\n"
// (spec 5.4). yaml-cpp 0.7 knows only "\r\n" and "\n", and reads a lone "\r" (old Mac line
// ends, or JSON whitespace) as part of the next scalar: `{"a": 1,\r"b": 2}` would have a field
// named "\r\"b\"". Normalizing first gives the YAML meaning (and right line numbers).
std::string NormalizeLineBreaks(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\r') {
      out.push_back(text[i]);
    } else if (i + 1 == text.size() || text[i + 1] != '\n') {
      out.push_back('\n');
    }
  }
  return out;
}

size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}

const FieldDescriptor* FindField(const Descriptor* type, absl::string_view key) {
  if (const FieldDescriptor* field = type->FindFieldByName(std::string(key))) return field;
  for (int i = 0; i < type->field_count(); ++i) {
    if (type->field(i)->json_name() == key) return type->field(i);
  }
  return nullptr;
}

// Walks one YAML document and one message descriptor together. Paths look like
// `search_space.parameters[0].bounds.min` and `metadata["team"]`.
class SpecParser {
 public:
  explicit SpecParser(absl::string_view source) : source_(source) {}

  absl::Status ParseDocument(absl::string_view text, Message* message) {
    YAML::Node root;
    try {
      root = YAML::Load(NormalizeLineBreaks(text));
    } catch (const YAML::Exception& e) {
      return Error(e.mark, "", absl::StrCat("invalid YAML: ", e.msg));
    }
    if (!root.IsDefined() || root.IsNull()) {
      return absl::InvalidArgumentError(absl::StrCat(source_, ": the spec is empty"));
    }
    try {
      return ParseMessage(root, "", message);
    } catch (const YAML::Exception& e) {
      // Not expected once the document is loaded; keep the promise that nothing throws.
      return Error(e.mark, "", absl::StrCat("invalid YAML: ", e.msg));
    }
  }

 private:
  absl::Status Error(const YAML::Mark& mark, absl::string_view path,
                     absl::string_view reason) const {
    std::string message(source_);
    if (!mark.is_null() && mark.line >= 0) absl::StrAppend(&message, ":", mark.line + 1);
    absl::StrAppend(&message, ": ");
    if (!path.empty()) absl::StrAppend(&message, path, ": ");
    absl::StrAppend(&message, reason);
    return absl::InvalidArgumentError(message);
  }

  static std::string Join(absl::string_view path, absl::string_view field) {
    return path.empty() ? std::string(field) : absl::StrCat(path, ".", field);
  }

  absl::Status ParseMessage(const YAML::Node& node, const std::string& path, Message* message) {
    const Descriptor* type = message->GetDescriptor();
    if (node.IsScalar()) {
      if (type->full_name() == kParameterValueType) {
        return SetParameterValue(node, path, std::nullopt, message);
      }
      if (type->full_name() == google::protobuf::Timestamp::descriptor()->full_name()) {
        if (google::protobuf::util::TimeUtil::FromString(
                node.Scalar(), static_cast<google::protobuf::Timestamp*>(message))) {
          return absl::OkStatus();
        }
        return Error(node.Mark(), path,
                     absl::StrCat("expected an RFC 3339 time, got ", Describe(node)));
      }
      if (type->full_name() == google::protobuf::Duration::descriptor()->full_name()) {
        if (google::protobuf::util::TimeUtil::FromString(
                node.Scalar(), static_cast<google::protobuf::Duration*>(message))) {
          return absl::OkStatus();
        }
        return Error(node.Mark(), path,
                     absl::StrCat("expected a duration such as \"1.5s\", got ", Describe(node)));
      }
    }
    if (!node.IsMap()) {
      return Error(
          node.Mark(), path,
          absl::StrCat("expected a mapping (", type->full_name(), "), got ", Describe(node)));
    }

    absl::flat_hash_set<const FieldDescriptor*> seen;
    absl::flat_hash_map<const OneofDescriptor*, const FieldDescriptor*> oneof_members;
    // Scalars given for ParameterValue fields wait until the sibling `type` is known.
    std::vector<std::pair<const FieldDescriptor*, YAML::Node>> deferred;

    for (auto it = node.begin(); it != node.end(); ++it) {
      // Copies (cheap handles), not references: yaml-cpp's operator-> returns a temporary
      // proxy, so `const YAML::Node& key = it->first` would dangle at the end of the statement.
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      if (!key.IsScalar()) {
        return Error(key.Mark(), path, absl::StrCat("expected a field name, got ", Describe(key)));
      }
      const std::string& name = key.Scalar();
      const FieldDescriptor* field = FindField(type, name);
      if (field == nullptr) return UnknownField(key, path, type);
      const std::string field_path = Join(path, field->name());
      if (!seen.insert(field).second) {
        return Error(key.Mark(), field_path, "given more than once");
      }
      if (value.IsNull()) continue;  // null leaves the field unset, as in proto3 JSON.
      if (const OneofDescriptor* oneof = field->real_containing_oneof()) {
        auto [entry, inserted] = oneof_members.emplace(oneof, field);
        if (!inserted) {
          return Error(
              key.Mark(), field_path,
              absl::StrCat("\"", entry->second->name(), "\" and \"", field->name(),
                           "\" are alternatives (oneof ", oneof->name(), "); give only one"));
        }
      }
      if (!field->is_repeated() && field->message_type() != nullptr &&
          field->message_type()->full_name() == kParameterValueType && value.IsScalar()) {
        deferred.emplace_back(field, value);
        continue;
      }
      absl::Status status = ParseField(value, field_path, field, message);
      if (!status.ok()) return status;
    }

    for (const auto& [field, value] : deferred) {
      Message* target = message->GetReflection()->MutableMessage(message, field);
      absl::Status status = SetParameterValue(value, Join(path, field->name()),
                                              SiblingParameterType(*message), target);
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }

  absl::Status UnknownField(const YAML::Node& key, const std::string& path,
                            const Descriptor* type) const {
    const std::string& name = key.Scalar();
    std::string reason = absl::StrCat("unknown field ", Quote(name), " in ", type->full_name());
    const FieldDescriptor* closest = nullptr;
    size_t best = 3;  // suggest only near misses
    for (int i = 0; i < type->field_count(); ++i) {
      const size_t distance = EditDistance(absl::AsciiStrToLower(name), type->field(i)->name());
      if (distance < best) {
        best = distance;
        closest = type->field(i);
      }
    }
    if (closest != nullptr) absl::StrAppend(&reason, " (did you mean \"", closest->name(), "\"?)");
    return Error(key.Mark(), path, reason);
  }

  // The value of the enclosing message's `type` field when it is an hpo.v1.ParameterType.
  static std::optional<int> SiblingParameterType(const Message& message) {
    const FieldDescriptor* type_field = message.GetDescriptor()->FindFieldByName("type");
    if (type_field == nullptr || type_field->is_repeated() || type_field->enum_type() == nullptr ||
        type_field->enum_type()->full_name() != kParameterTypeEnum) {
      return std::nullopt;
    }
    return message.GetReflection()->GetEnumValue(message, type_field);
  }

  // Sets the member of the ParameterValue oneof that `parameter_type` calls for (numbers of
  // hpo.v1.ParameterType: 1 double, 2 int, 3 categorical), or guesses from the scalar.
  absl::Status SetParameterValue(const YAML::Node& node, const std::string& path,
                                 std::optional<int> parameter_type, Message* value) const {
    const Descriptor* type = value->GetDescriptor();
    const Reflection* reflection = value->GetReflection();
    const FieldDescriptor* number_field = type->FindFieldByName("number_value");
    const FieldDescriptor* int_field = type->FindFieldByName("int_value");
    const FieldDescriptor* string_field = type->FindFieldByName("string_value");
    const std::string& text = node.Scalar();
    const EnumDescriptor* parameter_types =
        google::protobuf::DescriptorPool::generated_pool()->FindEnumTypeByName(kParameterTypeEnum);
    auto named = [&](const char* short_name) {
      const EnumValueDescriptor* v = FindEnumValue(parameter_types, short_name);
      return v != nullptr && parameter_type == v->number();
    };
    if (named("double")) {
      std::optional<double> number = ParseDouble(text);
      if (!number) {
        return Error(
            node.Mark(), path,
            absl::StrCat("expected a number for a double parameter, got ", Describe(node)));
      }
      reflection->SetDouble(value, number_field, *number);
    } else if (named("int")) {
      std::optional<int64_t> number = ParseInteger<int64_t>(text);
      if (!number) {
        return Error(
            node.Mark(), path,
            absl::StrCat("expected an integer for an int parameter, got ", Describe(node)));
      }
      reflection->SetInt64(value, int_field, *number);
    } else if (named("categorical") || node.Tag() == "!") {
      if (!IsUtf8(text)) {
        return Error(node.Mark(), path, absl::StrCat("expected UTF-8 text, got ", Describe(node)));
      }
      reflection->SetString(value, string_field, text);
    } else if (int64_t integer = 0; absl::SimpleAtoi(text, &integer)) {
      reflection->SetInt64(value, int_field, integer);
    } else if (std::optional<double> number = ParseDouble(text)) {
      reflection->SetDouble(value, number_field, *number);
    } else {
      if (!IsUtf8(text)) {
        return Error(node.Mark(), path, absl::StrCat("expected UTF-8 text, got ", Describe(node)));
      }
      reflection->SetString(value, string_field, text);
    }
    return absl::OkStatus();
  }

  absl::Status ParseField(const YAML::Node& node, const std::string& path,
                          const FieldDescriptor* field, Message* message) {
    const Reflection* reflection = message->GetReflection();
    if (field->is_map()) {
      if (!node.IsMap()) {
        return Error(node.Mark(), path, absl::StrCat("expected a mapping, got ", Describe(node)));
      }
      const FieldDescriptor* key_field = field->message_type()->map_key();
      const FieldDescriptor* value_field = field->message_type()->map_value();
      absl::flat_hash_set<std::string> keys;
      for (auto it = node.begin(); it != node.end(); ++it) {
        const YAML::Node key = it->first;  // a copy: see ParseMessage
        if (!key.IsScalar()) {
          return Error(key.Mark(), path, absl::StrCat("expected a key, got ", Describe(key)));
        }
        const std::string entry_path = absl::StrCat(path, "[", Quote(key.Scalar()), "]");
        if (!keys.insert(key.Scalar()).second) {
          return Error(key.Mark(), entry_path, "key given more than once");
        }
        Message* entry = reflection->AddMessage(message, field);
        absl::Status status = SetScalar(key, entry_path, key_field, entry);
        if (status.ok()) status = SetSingular(it->second, entry_path, value_field, entry);
        if (!status.ok()) return status;
      }
      return absl::OkStatus();
    }
    if (field->is_repeated()) {
      if (!node.IsSequence()) {
        return Error(node.Mark(), path, absl::StrCat("expected a list, got ", Describe(node)));
      }
      for (size_t i = 0; i < node.size(); ++i) {
        const YAML::Node element = node[i];
        const std::string element_path = absl::StrCat(path, "[", i, "]");
        if (element.IsNull()) {
          return Error(element.Mark(), element_path, "list elements cannot be null");
        }
        absl::Status status =
            field->message_type() != nullptr
                ? ParseMessage(element, element_path, reflection->AddMessage(message, field))
                : SetScalar(element, element_path, field, message);
        if (!status.ok()) return status;
      }
      return absl::OkStatus();
    }
    return SetSingular(node, path, field, message);
  }

  absl::Status SetSingular(const YAML::Node& node, const std::string& path,
                           const FieldDescriptor* field, Message* message) {
    if (field->message_type() != nullptr) {
      Message* child = message->GetReflection()->MutableMessage(message, field);
      if (node.IsNull()) return absl::OkStatus();
      return ParseMessage(node, path, child);
    }
    return SetScalar(node, path, field, message);
  }

  // Sets (or, for a repeated field, adds) one scalar value.
  absl::Status SetScalar(const YAML::Node& node, const std::string& path,
                         const FieldDescriptor* field, Message* message) const {
    const Reflection* r = message->GetReflection();
    const bool add = field->is_repeated();
    auto expected = [&](absl::string_view what) {
      return Error(node.Mark(), path, absl::StrCat("expected ", what, ", got ", Describe(node)));
    };
    if (!node.IsScalar()) {
      switch (field->cpp_type()) {
        case FieldDescriptor::CPPTYPE_STRING:
          return expected("a string");
        case FieldDescriptor::CPPTYPE_BOOL:
          return expected("true or false");
        case FieldDescriptor::CPPTYPE_ENUM:
          return expected(absl::StrCat("one of: ", ShortEnumNames(field->enum_type())));
        case FieldDescriptor::CPPTYPE_DOUBLE:
        case FieldDescriptor::CPPTYPE_FLOAT:
          return expected("a number");
        default:
          return expected("an integer");
      }
    }
    const std::string& text = node.Scalar();
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        if (field->type() == FieldDescriptor::TYPE_STRING && !IsUtf8(text)) {
          return expected("UTF-8 text");
        }
        add ? r->AddString(message, field, text) : r->SetString(message, field, text);
        return absl::OkStatus();
      case FieldDescriptor::CPPTYPE_BOOL: {
        std::optional<bool> value = ParseBool(text);
        if (!value) return expected("true or false");
        add ? r->AddBool(message, field, *value) : r->SetBool(message, field, *value);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT: {
        std::optional<double> value = ParseDouble(text);
        if (!value) return expected("a number");
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE) {
          add ? r->AddDouble(message, field, *value) : r->SetDouble(message, field, *value);
        } else {
          const float f = static_cast<float>(*value);
          add ? r->AddFloat(message, field, f) : r->SetFloat(message, field, f);
        }
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_INT32: {
        std::optional<int32_t> value = ParseInteger<int32_t>(text);
        if (!value) return expected("a 32-bit integer");
        add ? r->AddInt32(message, field, *value) : r->SetInt32(message, field, *value);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_INT64: {
        std::optional<int64_t> value = ParseInteger<int64_t>(text);
        if (!value) return expected("an integer");
        add ? r->AddInt64(message, field, *value) : r->SetInt64(message, field, *value);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_UINT32: {
        std::optional<uint32_t> value = ParseInteger<uint32_t>(text);
        if (!value) return expected("a non-negative 32-bit integer");
        add ? r->AddUInt32(message, field, *value) : r->SetUInt32(message, field, *value);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_UINT64: {
        std::optional<uint64_t> value = ParseInteger<uint64_t>(text);
        if (!value) return expected("a non-negative integer");
        add ? r->AddUInt64(message, field, *value) : r->SetUInt64(message, field, *value);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_ENUM: {
        const EnumValueDescriptor* value = FindEnumValue(field->enum_type(), text);
        if (value == nullptr) {
          return expected(absl::StrCat("one of: ", ShortEnumNames(field->enum_type())));
        }
        add ? r->AddEnumValue(message, field, value->number())
            : r->SetEnumValue(message, field, value->number());
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        break;
    }
    return Error(node.Mark(), path, "internal error: unexpected field type");
  }

  std::string source_;
};

}  // namespace

absl::Status ParseSpecInto(absl::string_view text, absl::string_view source_name,
                           google::protobuf::Message* message) {
  message->Clear();
  return SpecParser(source_name).ParseDocument(text, message);
}

absl::StatusOr<hpo::v1::Experiment> ParseExperimentSpec(absl::string_view text,
                                                        absl::string_view source_name) {
  hpo::v1::Experiment experiment;
  absl::Status status = ParseSpecInto(text, source_name, &experiment);
  if (!status.ok()) return status;
  return experiment;
}

absl::StatusOr<hpo::v1::Experiment> LoadExperimentSpec(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    const int error = errno;
    const std::string reason = absl::StrCat("cannot open ", path, ": ", std::strerror(error));
    if (error == ENOENT) return absl::NotFoundError(reason);
    if (error == EACCES) return absl::PermissionDeniedError(reason);
    return absl::UnavailableError(reason);
  }
  std::stringstream contents;
  contents << file.rdbuf();
  if (file.bad()) return absl::UnavailableError(absl::StrCat("cannot read ", path));
  return ParseExperimentSpec(contents.str(), path);
}

}  // namespace hpo::client
