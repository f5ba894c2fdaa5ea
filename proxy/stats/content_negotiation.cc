#include "proxy/stats/content_negotiation.h"

#include <cstdint>

namespace sidemeter::stats {
namespace {

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Splits at `sep` outside quoted strings (a quoted parameter value may hold ',' or ';').
// Returns the part before the separator and advances `rest` past it.
std::string_view next_part(std::string_view& rest, char sep) {
  bool quoted = false;
  for (size_t i = 0; i < rest.size(); ++i) {
    const char c = rest[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (!quoted && c == sep) {
      const std::string_view part = rest.substr(0, i);
      rest.remove_prefix(i + 1);
      return part;
    }
  }
  const std::string_view part = rest;
  rest = {};
  return part;
}

std::string_view unquote(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') return v.substr(1, v.size() - 2);
  return v;
}

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths.
std::optional<int> parse_qvalue(std::string_view v) {
  if (v.empty() || (v[0] != '0' && v[0] != '1')) return std::nullopt;
  int q = (v[0] - '0') * 1000;
  if (v.size() == 1) return q;
  if (v[1] != '.' || v.size() > 5) return std::nullopt;
  int scale = 100;
  for (size_t i = 2; i < v.size(); ++i, scale /= 10) {
    if (v[i] < '0' || v[i] > '9') return std::nullopt;
    q += (v[i] - '0') * scale;
  }
  if (q > 1000) return std::nullopt;
  return q;
}

struct Range {
  std::string_view type, subtype;
  std::string_view params;  // the ";"-separated parameters before the weight, unparsed
  int param_count = 0;
  int q = 1000;
  bool valid = false;
};

Range parse_range(std::string_view element) {
  Range r;
  std::string_view rest = element;
  const std::string_view type = trim(next_part(rest, ';'));
  const size_t slash = type.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == type.size()) return r;
  r.type = type.substr(0, slash);
  r.subtype = type.substr(slash + 1);
  if (r.type == "*" && r.subtype != "*") return r;
  const char* params_begin = rest.data();
  const char* params_end = rest.data();
  while (!rest.empty()) {
    const std::string_view p = trim(next_part(rest, ';'));
    if (p.empty()) continue;
    const size_t eq = p.find('=');
    if (eq == std::string_view::npos) return r;  // a parameter needs a value
    const std::string_view name = trim(p.substr(0, eq));
    if (iequals(name, "q")) {
      // The weight ends the media range; anything after it was accept-ext (RFC 7231).
      const std::optional<int> q = parse_qvalue(trim(p.substr(eq + 1)));
      if (!q) return r;
      r.q = *q;
      break;
    }
    ++r.param_count;
    params_end = p.data() + p.size();
  }
  r.params = r.param_count ? std::string_view(params_begin, size_t(params_end - params_begin))
                           : std::string_view();
  r.valid = true;
  return r;
}

// Every parameter the range names is one the offer has, with the same value.
bool params_match(std::string_view params, const MediaTypeOffer& offer) {
  std::string_view rest = params;
  while (!rest.empty()) {
    const std::string_view p = trim(next_part(rest, ';'));
    if (p.empty()) continue;
    const size_t eq = p.find('=');
    const std::string_view name = trim(p.substr(0, eq));
    const std::string_view value = unquote(trim(p.substr(eq + 1)));
    bool found = false;
    for (const MediaParameter& o : offer.parameters) {
      if (iequals(o.name, name) && iequals(o.value, value)) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

// -1: no match; else how specific the range is (type, subtype, then each parameter).
int specificity(const Range& r, const MediaTypeOffer& offer) {
  if (r.type == "*") return 0;  // "*/*" (parse_range refused "*/x")
  if (!iequals(r.type, offer.type)) return -1;
  if (r.subtype == "*") return 1;
  if (!iequals(r.subtype, offer.subtype)) return -1;
  if (!params_match(r.params, offer)) return -1;
  return 2 + r.param_count;
}

}  // namespace

std::optional<size_t> negotiate_media_type(std::string_view accept,
                                           std::span<const MediaTypeOffer> offers) {
  if (offers.empty()) return std::nullopt;
  if (trim(accept).empty()) return 0;
  struct Best {
    int q = -1, spec = -1;
    size_t position = SIZE_MAX;  // of the range in the header
  };
  // Per offer: the most specific range that matches it (the first such on a tie).
  Best per_offer[kMaxMediaTypeOffers];
  const size_t n = offers.size() < kMaxMediaTypeOffers ? offers.size() : kMaxMediaTypeOffers;
  std::string_view rest = accept;
  for (size_t position = 0; !rest.empty(); ++position) {
    const Range r = parse_range(trim(next_part(rest, ',')));
    if (!r.valid) continue;
    for (size_t i = 0; i < n; ++i) {
      const int spec = specificity(r, offers[i]);
      if (spec > per_offer[i].spec) per_offer[i] = {r.q, spec, position};
    }
  }
  std::optional<size_t> chosen;
  for (size_t i = 0; i < n; ++i) {
    const Best& b = per_offer[i];
    if (b.spec < 0 || b.q <= 0) continue;  // not mentioned, or q=0: not acceptable
    if (!chosen) {
      chosen = i;
      continue;
    }
    const Best& c = per_offer[*chosen];
    if (b.q > c.q || (b.q == c.q && (b.spec > c.spec || (b.spec == c.spec && b.position < c.position)))) {
      chosen = i;
    }
  }
  return chosen;
}

}  // namespace sidemeter::stats
