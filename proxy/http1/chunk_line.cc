#include "proxy/http1/chunk_line.h"

#include <array>

#include "proxy/http1/field_rules.h"

namespace sidemeter::http {

namespace {

namespace r = rules;

constexpr std::array<int8_t, 256> make_hex_values() {
  std::array<int8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[static_cast<size_t>(c)] = static_cast<int8_t>(
        c >= '0' && c <= '9' ? c - '0'
        : c >= 'a' && c <= 'f' ? c - 'a' + 10
        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                               : -1);
  }
  return t;
}
constexpr std::array<int8_t, 256> kHexValues = make_hex_values();

int hex_value(char c) { return kHexValues[static_cast<unsigned char>(c)]; }

// quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ): the field-vchar class exactly.
bool is_quoted_pair_char(char c) { return r::has_class(c, r::kFieldVchar); }

}  // namespace

size_t ChunkLineScanner::plain_line_length(const char* p, size_t n, uint64_t& size) {
  size_t i = 0;
  uint64_t v = 0;
  for (; i < n && i < 15; ++i) {
    const int d = hex_value(p[i]);
    if (d < 0) break;
    v = v * 16 + static_cast<uint64_t>(d);
  }
  if (i == 0 || i + 1 >= n || p[i] != '\r' || p[i + 1] != '\n') return 0;
  size = v;
  return i + 2;
}

ChunkLineScanner::Result ChunkLineScanner::feed(const char* p, size_t n) {
  if (state_ == State::kFirstDigit) {
    // Most lines are plain and whole in the buffer: no state machine for them.
    if (const size_t len = plain_line_length(p, n, size_); len != 0) return {Status::kDone, len};
  }
  for (size_t i = 0; i < n; ++i) {
    const char c = p[i];
    switch (state_) {
      case State::kFirstDigit:
      case State::kDigits: {
        const int d = hex_value(c);
        if (d >= 0) {
          if (size_ > (kMaxSize - static_cast<uint64_t>(d)) / 16) return {Status::kInvalid, i + 1};
          size_ = size_ * 16 + static_cast<uint64_t>(d);
          state_ = State::kDigits;
          continue;
        }
        if (state_ == State::kFirstDigit) return {Status::kInvalid, i + 1};
        if (c == '\r') {
          state_ = State::kLf;
          continue;
        }
        if (c == ';') {
          state_ = State::kAfterSemicolon;
        } else if (r::is_ows(c)) {
          state_ = State::kBwsBeforeSemicolon;
        } else {
          return {Status::kInvalid, i + 1};
        }
        break;
      }
      case State::kBwsBeforeSemicolon:
        if (c == ';') {
          state_ = State::kAfterSemicolon;
        } else if (!r::is_ows(c)) {
          return {Status::kInvalid, i + 1};
        }
        break;
      case State::kAfterSemicolon:
        if (r::is_tchar(c)) {
          state_ = State::kName;
        } else if (!r::is_ows(c)) {
          return {Status::kInvalid, i + 1};
        }
        break;
      case State::kName:
        if (r::is_tchar(c)) break;
        if (c == '=') {
          state_ = State::kAfterEquals;
        } else if (c == ';') {
          state_ = State::kAfterSemicolon;
        } else if (r::is_ows(c)) {
          state_ = State::kAfterName;
        } else if (c == '\r') {
          state_ = State::kLf;
          continue;
        } else {
          return {Status::kInvalid, i + 1};
        }
        break;
      case State::kAfterName:
        if (c == '=') {
          state_ = State::kAfterEquals;
        } else if (c == ';') {
          state_ = State::kAfterSemicolon;
        } else if (!r::is_ows(c)) {
          return {Status::kInvalid, i + 1};
        }
        break;
      case State::kAfterEquals:
        if (r::is_tchar(c)) {
          state_ = State::kTokenValue;
        } else if (c == '"') {
          state_ = State::kQuoted;
        } else if (!r::is_ows(c)) {
          return {Status::kInvalid, i + 1};  // an empty value ("a=") included
        }
        break;
      case State::kTokenValue:
        if (r::is_tchar(c)) break;
        if (c == ';') {
          state_ = State::kAfterSemicolon;
        } else if (r::is_ows(c)) {
          state_ = State::kBwsBeforeSemicolon;
        } else if (c == '\r') {
          state_ = State::kLf;
          continue;
        } else {
          return {Status::kInvalid, i + 1};
        }
        break;
      case State::kQuoted:
        if (c == '"') {
          state_ = State::kAfterQuoted;
        } else if (c == '\\') {
          state_ = State::kQuotedPair;
        } else if (!r::has_class(c, r::kQdtext)) {
          return {Status::kInvalid, i + 1};  // CR, LF and other CTLs
        }
        break;
      case State::kQuotedPair:
        if (!is_quoted_pair_char(c)) return {Status::kInvalid, i + 1};
        state_ = State::kQuoted;
        break;
      case State::kAfterQuoted:
        if (c == ';') {
          state_ = State::kAfterSemicolon;
        } else if (r::is_ows(c)) {
          state_ = State::kBwsBeforeSemicolon;
        } else if (c == '\r') {
          state_ = State::kLf;
          continue;
        } else {
          return {Status::kInvalid, i + 1};
        }
        break;
      case State::kLf:
        if (c != '\n') return {Status::kInvalid, i + 1};  // a bare CR
        return {Status::kDone, i + 1};
    }
    // Every byte that reaches here belongs to chunk-ext (size digits and the CR continue).
    if (++extension_bytes_ > kMaxExtensionBytes) return {Status::kExtensionsTooLong, i + 1};
  }
  return {Status::kMore, n};
}

}  // namespace sidemeter::http
