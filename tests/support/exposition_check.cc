#include "tests/support/exposition_check.h"

#include <cmath>
#include <cstdlib>

namespace sidemeter::testing {
namespace {

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

bool valid_name(std::string_view n) {
  if (n.empty() || !is_name_start(n[0])) return false;
  for (char c : n) {
    if (!is_name_char(c)) return false;
  }
  return true;
}

bool parse_value(std::string_view s, double& out) {
  if (s == "NaN") {
    out = NAN;
    return true;
  }
  if (s == "+Inf") {
    out = INFINITY;
    return true;
  }
  if (s == "-Inf") {
    out = -INFINITY;
    return true;
  }
  if (s.empty()) return false;
  const std::string copy(s);
  char* end = nullptr;
  out = std::strtod(copy.c_str(), &end);
  // strtod also takes "inf"/"nan"/hex spellings the formats do not allow.
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) {
      return false;
    }
  }
  return end == copy.c_str() + copy.size();
}

// Suffixes a sample may add to its family's name.
bool sample_belongs(std::string_view sample, std::string_view family, std::string_view type,
                    bool om) {
  auto is = [&](std::string_view suffix) {
    return sample.size() == family.size() + suffix.size() &&
           sample.substr(0, family.size()) == family && sample.substr(family.size()) == suffix;
  };
  if (type == "counter") return om ? is("_total") : is("");
  if (type == "gauge") return is("");
  if (type == "histogram") return is("_bucket") || is("_sum") || is("_count");
  if (type == "summary") return is("") || is("_sum") || is("_count");
  return false;
}

bool has_labels(const ExpositionSample& s,
                const std::vector<std::pair<std::string, std::string>>& labels) {
  for (const auto& [k, v] : labels) {
    bool found = false;
    for (const auto& [sk, sv] : s.labels) found = found || (sk == k && sv == v);
    if (!found) return false;
  }
  return true;
}

}  // namespace

std::string ExpositionSample::label(std::string_view n) const {
  for (const auto& [k, v] : labels) {
    if (k == n) return v;
  }
  return {};
}

const ExpositionSample* ExpositionCheck::find(
    std::string_view name, const std::vector<std::pair<std::string, std::string>>& labels) const {
  for (const ExpositionSample& s : samples) {
    if (s.name == name && has_labels(s, labels)) return &s;
  }
  return nullptr;
}

std::optional<double> ExpositionCheck::value(
    std::string_view name, std::vector<std::pair<std::string, std::string>> labels) const {
  const ExpositionSample* s = find(name, labels);
  if (s == nullptr) return std::nullopt;
  return s->value;
}

double ExpositionCheck::sum(std::string_view name,
                            const std::vector<std::pair<std::string, std::string>>& labels) const {
  double total = 0;
  for (const ExpositionSample& s : samples) {
    if (s.name == name && has_labels(s, labels)) total += s.value;
  }
  return total;
}

size_t ExpositionCheck::count(std::string_view name) const {
  size_t n = 0;
  for (const ExpositionSample& s : samples) n += s.name == name;
  return n;
}

ExpositionCheck check_exposition(std::string_view text, bool om) {
  ExpositionCheck r;
  auto err = [&](size_t line, const std::string& what) {
    r.errors.push_back("line " + std::to_string(line) + ": " + what);
  };
  if (text.empty() || text.back() != '\n') err(0, "text must end with a newline");
  std::string family, type;
  bool eof = false;
  size_t lineno = 0;
  // Histogram state per series (labels without "le").
  struct HistState {
    double last_le = -INFINITY;
    double last_count = 0;
    bool inf_seen = false;
    double inf_count = 0;
  };
  std::map<std::string, HistState> hist;
  std::map<std::string, double> hist_count;

  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++lineno;
    if (eof) {
      err(lineno, "content after # EOF");
      break;
    }
    if (line.empty()) {
      err(lineno, "empty line");
      continue;
    }
    if (line[0] == '#') {
      if (om && line == "# EOF") {
        eof = true;
        continue;
      }
      const bool help = line.rfind("# HELP ", 0) == 0;
      const bool typ = line.rfind("# TYPE ", 0) == 0;
      if (!help && !typ) {
        err(lineno, "unknown comment line: " + std::string(line));
        continue;
      }
      const std::string_view rest = line.substr(7);
      const size_t sp = rest.find(' ');
      const std::string_view name = rest.substr(0, sp);
      if (!valid_name(name) || sp == std::string_view::npos) {
        err(lineno, "bad metadata line");
        continue;
      }
      const std::string_view arg = rest.substr(sp + 1);
      if (help) {
        for (size_t i = 0; i < arg.size(); ++i) {
          if (arg[i] == '\\' && (i + 1 >= arg.size() || (arg[i + 1] != '\\' && arg[i + 1] != 'n' &&
                                                         !(om && arg[i + 1] == '"')))) {
            err(lineno, "bad escape in HELP");
          }
          if (arg[i] == '\\') ++i;
        }
        if (name != family && r.types.count(std::string(name)))
          err(lineno, "HELP for an old family");
        family = name;
      } else {
        if (arg != "counter" && arg != "gauge" && arg != "histogram" && arg != "summary") {
          err(lineno, "unknown type " + std::string(arg));
        }
        if (r.types.count(std::string(name))) err(lineno, "second TYPE for " + std::string(name));
        if (!om && arg == "counter" &&
            name.substr(name.size() >= 6 ? name.size() - 6 : 0) != "_total") {
          err(lineno, "text-format counter family without _total");
        }
        if (om && arg == "counter" && name.size() >= 6 &&
            name.substr(name.size() - 6) == "_total") {
          err(lineno, "OpenMetrics counter family with _total");
        }
        r.types[std::string(name)] = std::string(arg);
        family = name;
        type = arg;
      }
      continue;
    }
    // Sample line: name{labels} value
    ExpositionSample s;
    size_t i = 0;
    while (i < line.size() && is_name_char(line[i])) ++i;
    s.name = std::string(line.substr(0, i));
    if (!valid_name(s.name)) {
      err(lineno, "bad metric name");
      continue;
    }
    bool ok = true;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (ok && i < line.size() && line[i] != '}') {
        const size_t start = i;
        while (i < line.size() && is_name_char(line[i])) ++i;
        const std::string lname(line.substr(start, i - start));
        if (!valid_name(lname) || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
          ok = false;
          break;
        }
        i += 2;
        std::string value;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            if (i + 1 >= line.size()) {
              ok = false;
              break;
            }
            const char e = line[i + 1];
            if (e == '\\')
              value += '\\';
            else if (e == '"')
              value += '"';
            else if (e == 'n')
              value += '\n';
            else
              ok = false;
            i += 2;
          } else {
            value += line[i++];
          }
        }
        if (i >= line.size()) ok = false;
        ++i;  // closing quote
        for (const auto& [k, unused] : s.labels) ok = ok && k != lname;
        s.labels.emplace_back(lname, std::move(value));
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size() || line[i] != '}') ok = false;
      ++i;
    }
    if (!ok || i >= line.size() || line[i] != ' ') {
      err(lineno, "bad labels or missing value: " + std::string(line));
      continue;
    }
    if (!parse_value(line.substr(i + 1), s.value)) {
      err(lineno, "bad value: " + std::string(line));
      continue;
    }
    if (family.empty() || !sample_belongs(s.name, family, type, om)) {
      err(lineno, "sample " + s.name + " outside its family (" + family + ")");
    }
    if (type == "histogram") {
      std::string key = s.name.substr(0, s.name.rfind('_')) + "{";
      for (const auto& [k, v] : s.labels) {
        if (k != "le") key += k + "=" + v + ",";
      }
      if (s.name.size() > 7 && s.name.substr(s.name.size() - 7) == "_bucket") {
        const std::string le = s.label("le");
        double bound;
        if (le.empty() || !parse_value(le, bound)) {
          err(lineno, "bucket without a numeric le");
        } else {
          HistState& h = hist[key];
          if (h.inf_seen) err(lineno, "bucket after +Inf");
          if (bound <= h.last_le) err(lineno, "le not increasing");
          if (s.value < h.last_count) err(lineno, "buckets not cumulative");
          h.last_le = bound;
          h.last_count = s.value;
          if (std::isinf(bound)) {
            h.inf_seen = true;
            h.inf_count = s.value;
          }
        }
      } else if (s.name.size() > 6 && s.name.substr(s.name.size() - 6) == "_count") {
        hist_count[key] = s.value;
      }
    }
    if (type == "summary" && !s.label("quantile").empty()) {
      double q;
      if (!parse_value(s.label("quantile"), q) || q < 0 || q > 1) err(lineno, "bad quantile");
    }
    r.samples.push_back(std::move(s));
  }
  if (om && !eof) err(lineno, "OpenMetrics text must end with # EOF");
  for (const auto& [key, h] : hist) {
    if (!h.inf_seen) {
      r.errors.push_back("histogram " + key + " has no +Inf bucket");
    } else if (!hist_count.count(key) || hist_count[key] != h.inf_count) {
      r.errors.push_back("histogram " + key + ": +Inf bucket != _count");
    }
  }
  return r;
}

}  // namespace sidemeter::testing
