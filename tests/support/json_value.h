#pragma once
// A strict little JSON parser for tests (RFC 8259: no trailing commas, no NaN, no
// comments, valid escapes and UTF-8), producing a DOM that tests can walk.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sidemeter::testing {

struct JsonValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object;  // in document order

  // Member lookup; nullptr if absent or not an object.
  const JsonValue* get(std::string_view key) const;
  // Path lookup "windows.1m.requests"; nullptr if any step is missing.
  const JsonValue* at(std::string_view dotted) const;
  bool is_object() const { return type == Type::kObject; }
  bool is_array() const { return type == Type::kArray; }
  bool is_number() const { return type == Type::kNumber; }
};

// Parses the whole text (surrounding whitespace allowed). On failure returns nullopt and
// sets *error to "offset N: reason".
std::optional<JsonValue> parse_json(std::string_view text, std::string* error = nullptr);

}  // namespace sidemeter::testing
