#include "conf/interpolate.h"

#include <cstdlib>

namespace sidemeter::conf {
namespace {

bool name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

// Where a YAML quoted scalar may begin: a quote elsewhere ("it's") is just a character.
bool may_open_quote(std::string_view line, size_t i) {
  if (i == 0) return true;
  char p = line[i - 1];
  return p == ' ' || p == '\t' || p == ':' || p == '[' || p == '{' || p == ',' || p == '-';
}

class LineInterpolator {
 public:
  LineInterpolator(int line_no, const Environment& env, Interpolated& out)
      : line_no_(line_no), env_(env), out_(out) {}

  void run(std::string_view line) {
    char quote = 0;
    for (size_t i = 0; i < line.size();) {
      char c = line[i];
      if (quote == 0 && c == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
        out_.text.append(line.substr(i));
        return;
      }
      if (quote == 0 && (c == '"' || c == '\'') && may_open_quote(line, i)) {
        quote = c;
      } else if (quote == '"' && c == '\\' && i + 1 < line.size()) {
        out_.text.append(line.substr(i, 2));
        i += 2;
        continue;
      } else if (quote != 0 && c == quote) {
        quote = 0;  // '' inside '...' closes and reopens: same state after both
      }
      if (c == '$' && line.substr(i, 3) == "$${") {
        out_.text.append("${");
        i += 3;
        continue;
      }
      if (c == '$' && line.substr(i, 2) == "${") {
        i = substitute(line, i);
        continue;
      }
      out_.text.push_back(c);
      ++i;
    }
  }

 private:
  // Returns the index just past the reference.
  size_t substitute(std::string_view line, size_t dollar) {
    size_t close = line.find('}', dollar + 2);
    if (close == std::string_view::npos) {
      error(dollar, "unterminated ${ (write $${ for a literal ${)");
      out_.text.append(line.substr(dollar));
      return line.size();
    }
    std::string_view body = line.substr(dollar + 2, close - dollar - 2);
    size_t sep = body.find(":-");
    std::string_view name = body.substr(0, sep);
    bool valid = !name.empty() && name_start(name[0]);
    for (char ch : name) valid = valid && name_char(ch);
    if (!valid) {
      error(dollar, "invalid reference ${" + std::string(body) +
                        "}: expected ${NAME} or ${NAME:-default} (write $${ for a literal ${)");
      return keep(line, dollar, close);
    }
    std::optional<std::string> value = env_(name);
    // As in the shell, ":-" also covers a variable that is set but empty.
    if ((!value || value->empty()) && sep != std::string_view::npos) {
      value = std::string(body.substr(sep + 2));
    }
    if (!value) {
      error(dollar, "environment variable " + std::string(name) + " is not set (use ${" +
                        std::string(name) + ":-default})");
      return keep(line, dollar, close);
    }
    // Set but empty, with no default: an error, not "". A Secret whose key was missing
    // would otherwise turn `token: "${STATS_TOKEN}"` into no token, silently.
    if (value->empty() && sep == std::string_view::npos) {
      error(dollar, "environment variable " + std::string(name) + " is empty (use ${" +
                        std::string(name) + ":-} where empty is meant)");
      return keep(line, dollar, close);
    }
    if (value->find_first_of("\r\n") != std::string::npos) {
      error(dollar, "environment variable " + std::string(name) +
                        " contains a line break, which would shift every later line number");
      return keep(line, dollar, close);
    }
    out_.text.append(*value);
    return close + 1;
  }

  // A reference in error stays as written: still valid YAML where "" might not be.
  size_t keep(std::string_view line, size_t dollar, size_t close) {
    out_.text.append(line.substr(dollar, close + 1 - dollar));
    return close + 1;
  }

  void error(size_t column, std::string message) {
    out_.errors.push_back({line_no_, static_cast<int>(column) + 1, std::move(message)});
  }

  int line_no_;
  const Environment& env_;
  Interpolated& out_;
};

}  // namespace

Interpolated interpolate(std::string_view text, const Environment& env) {
  Interpolated out;
  out.text.reserve(text.size());
  int line_no = 1;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? text.size() - pos
                                                                            : nl - pos);
    LineInterpolator(line_no, env, out).run(line);
    if (nl == std::string_view::npos) break;
    out.text.push_back('\n');
    pos = nl + 1;
    ++line_no;
  }
  return out;
}

Environment process_environment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

}  // namespace sidemeter::conf
