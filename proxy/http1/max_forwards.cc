#include "proxy/http1/max_forwards.h"

#include "proxy/http1/field_rules.h"

namespace sidemeter::http {

MaxForwards read_max_forwards(const MessageHead& req, std::string_view& value) {
  bool seen = false;
  for (const HeaderField& f : req.fields) {
    if (f.name.size() != 12 || !rules::iequals_lower(f.name, "max-forwards")) continue;
    if (seen) return MaxForwards::kInvalid;
    seen = true;
    value = f.value;
  }
  if (!seen) return MaxForwards::kAbsent;
  if (value.empty()) return MaxForwards::kInvalid;
  bool zero = true;
  for (char c : value) {
    if (c < '0' || c > '9') return MaxForwards::kInvalid;
    zero = zero && c == '0';
  }
  return zero ? MaxForwards::kZero : MaxForwards::kPositive;
}

void append_decremented(std::string& out, std::string_view digits) {
  size_t start = 0;
  while (start + 1 < digits.size() && digits[start] == '0') ++start;
  digits.remove_prefix(start);
  // The last non-zero digit loses one; the zeros after it become nines.
  size_t last = digits.find_last_not_of('0');
  if (last == std::string_view::npos) {  // all zeros: not ours to decrement
    out.push_back('0');
    return;
  }
  const size_t begin = out.size();
  out.append(digits.substr(0, last));
  out.push_back(static_cast<char>(digits[last] - 1));
  out.append(digits.size() - last - 1, '9');
  // "1" -> "0" stays; "10" -> "09" loses its leading zero.
  if (out.size() - begin > 1 && out[begin] == '0') out.erase(begin, 1);
}

}  // namespace sidemeter::http
