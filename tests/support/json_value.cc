#include "tests/support/json_value.h"

#include <cstdlib>

#include "proxy/text/utf8.h"

namespace sidemeter::testing {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  bool document(JsonValue& out) {
    ws();
    if (!value(out, 0)) return false;
    ws();
    return pos_ == s_.size() || fail("trailing characters");
  }
  std::string error() const { return "offset " + std::to_string(pos_) + ": " + error_; }

 private:
  bool fail(const char* why) {
    if (error_.empty()) error_ = why;
    return false;
  }
  void ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return fail("bad literal");
    pos_ += word.size();
    return true;
  }
  bool value(JsonValue& v, int depth) {
    if (depth > 64) return fail("too deep");
    if (pos_ >= s_.size()) return fail("unexpected end");
    switch (s_[pos_]) {
      case '{':
        return object(v, depth);
      case '[':
        return array(v, depth);
      case '"':
        v.type = JsonValue::Type::kString;
        return string(v.string);
      case 't':
        v.type = JsonValue::Type::kBool;
        v.boolean = true;
        return literal("true");
      case 'f':
        v.type = JsonValue::Type::kBool;
        return literal("false");
      case 'n':
        v.type = JsonValue::Type::kNull;
        return literal("null");
      default:
        return number(v);
    }
  }
  bool object(JsonValue& v, int depth) {
    v.type = JsonValue::Type::kObject;
    ++pos_;
    ws();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return true;
    }
    while (true) {
      ws();
      std::string key;
      if (pos_ >= s_.size() || s_[pos_] != '"') return fail("expected key");
      if (!string(key)) return false;
      for (const auto& [k, unused] : v.object) {
        if (k == key) return fail("duplicate key");
      }
      ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') return fail("expected ':'");
      ++pos_;
      ws();
      JsonValue member;
      if (!value(member, depth + 1)) return false;
      v.object.emplace_back(std::move(key), std::move(member));
      ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return true;
      }
      return fail("expected ',' or '}'");
    }
  }
  bool array(JsonValue& v, int depth) {
    v.type = JsonValue::Type::kArray;
    ++pos_;
    ws();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      ws();
      JsonValue item;
      if (!value(item, depth + 1)) return false;
      v.array.push_back(std::move(item));
      ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return true;
      }
      return fail("expected ',' or ']'");
    }
  }
  bool string(std::string& out) {
    ++pos_;  // opening quote
    while (pos_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return fail("control character in string");
      if (c == '\\') {
        if (++pos_ >= s_.size()) return fail("unexpected end");
        const char e = s_[pos_++];
        switch (e) {
          case '"':
            out += '"';
            break;
          case '\\':
            out += '\\';
            break;
          case '/':
            out += '/';
            break;
          case 'b':
            out += '\b';
            break;
          case 'f':
            out += '\f';
            break;
          case 'n':
            out += '\n';
            break;
          case 'r':
            out += '\r';
            break;
          case 't':
            out += '\t';
            break;
          case 'u': {
            if (pos_ + 4 > s_.size()) return fail("short \\u escape");
            unsigned cp = 0;
            for (int i = 0; i < 4; ++i) {
              const char h = s_[pos_++];
              cp <<= 4;
              if (h >= '0' && h <= '9')
                cp |= unsigned(h - '0');
              else if (h >= 'a' && h <= 'f')
                cp |= unsigned(h - 'a' + 10);
              else if (h >= 'A' && h <= 'F')
                cp |= unsigned(h - 'A' + 10);
              else
                return fail("bad \\u escape");
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) return fail("surrogate escape (not produced by us)");
            if (cp < 0x80) {
              out += char(cp);
            } else if (cp < 0x800) {
              out += char(0xC0 | (cp >> 6));
              out += char(0x80 | (cp & 0x3F));
            } else {
              out += char(0xE0 | (cp >> 12));
              out += char(0x80 | ((cp >> 6) & 0x3F));
              out += char(0x80 | (cp & 0x3F));
            }
            break;
          }
          default:
            return fail("bad escape");
        }
        continue;
      }
      if (c < 0x80) {
        out += char(c);
        ++pos_;
        continue;
      }
      const size_t n = text::utf8_sequence_length(s_.substr(pos_));
      if (n == 0) return fail("invalid UTF-8");
      out.append(s_.substr(pos_, n));
      pos_ += n;
    }
    return fail("unterminated string");
  }
  bool number(JsonValue& v) {
    const size_t start = pos_;
    auto digits = [&] {
      const size_t b = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ > b;
    };
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '0') {
      ++pos_;
    } else if (!digits()) {
      return fail("bad number");
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (!digits()) return fail("bad fraction");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (!digits()) return fail("bad exponent");
    }
    v.type = JsonValue::Type::kNumber;
    v.number = std::strtod(std::string(s_.substr(start, pos_ - start)).c_str(), nullptr);
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace

const JsonValue* JsonValue::get(std::string_view key) const {
  if (type != Type::kObject) return nullptr;
  for (const auto& [k, v] : object) {
    if (k == key) return &v;
  }
  return nullptr;
}

const JsonValue* JsonValue::at(std::string_view dotted) const {
  const JsonValue* v = this;
  while (v && !dotted.empty()) {
    const size_t dot = dotted.find('.');
    v = v->get(dotted.substr(0, dot));
    dotted = dot == std::string_view::npos ? std::string_view() : dotted.substr(dot + 1);
  }
  return v;
}

std::optional<JsonValue> parse_json(std::string_view text, std::string* error) {
  Parser p(text);
  JsonValue v;
  if (!p.document(v)) {
    if (error) *error = p.error();
    return std::nullopt;
  }
  return v;
}

}  // namespace sidemeter::testing
