#include "tests/support/json_line.h"

#include <cctype>
#include <cstdlib>

namespace sidemeter::testing {

std::optional<std::string> json_field(std::string_view line, std::string_view key) {
  // Built with append: GCC 12 at -O3 warns (-Wrestrict, falsely) on "\"" + string.
  std::string pattern;
  pattern.reserve(key.size() + 2);
  pattern.push_back('"');
  pattern.append(key);
  pattern.push_back('"');
  size_t pos = 0;
  while ((pos = line.find(pattern, pos)) != std::string_view::npos) {
    size_t p = pos + pattern.size();
    while (p < line.size() && std::isspace(static_cast<unsigned char>(line[p]))) ++p;
    if (p >= line.size() || line[p] != ':') {  // was a value, not a key
      pos = p;
      continue;
    }
    ++p;
    while (p < line.size() && std::isspace(static_cast<unsigned char>(line[p]))) ++p;
    if (p < line.size() && line[p] == '"') {
      size_t end = p + 1;
      while (end < line.size() && line[end] != '"') end += line[end] == '\\' ? 2 : 1;
      return std::string(line.substr(p + 1, end - p - 1));
    }
    size_t end = p;
    while (end < line.size() && line[end] != ',' && line[end] != '}') ++end;
    std::string_view v = line.substr(p, end - p);
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
    return std::string(v);
  }
  return std::nullopt;
}

std::optional<int64_t> json_int(std::string_view line, std::string_view key) {
  auto v = json_field(line, key);
  if (!v || v->empty()) return std::nullopt;
  char* end = nullptr;
  long long n = std::strtoll(v->c_str(), &end, 10);
  if (*end != '\0') return std::nullopt;
  return n;
}

bool json_has(std::string_view line, std::string_view key, std::string_view value) {
  auto v = json_field(line, key);
  return v && *v == value;
}

}  // namespace sidemeter::testing
