#pragma once
// ${VAR} / ${VAR:-default} substitution on the raw file text, before YAML parsing.
// Line by line, so YAML's line numbers still match the file; columns too, on every
// line without a substitution before that point.
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"

namespace sidemeter::conf {

struct TextError {
  int line = 0;    // 1-based, in the original text
  int column = 0;  // 1-based, of the '$'
  std::string message;
};

struct Interpolated {
  // A reference in error is left as written, so parsing goes on; the loader drops the
  // errors that follow from it (any other on that line).
  std::string text;
  std::vector<TextError> errors;
};

// $${ is a literal ${. Comments (# after a blank, outside quotes) are copied as they are:
// documenting ${X} there must not require X.
Interpolated interpolate(std::string_view text, const Environment& env);

}  // namespace sidemeter::conf
