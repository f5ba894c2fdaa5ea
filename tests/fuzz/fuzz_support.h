#pragma once
// Shared by the libFuzzer targets (tests/fuzz/README section of the top-level README).
//
// Input layout of the HTTP targets: byte 0 = option bits (each target says which), byte 1
// = how the bytes are cut into reads (0: one read; otherwise a seed for read sizes of
// 1..64 bytes), the rest = the bytes a peer sends. The seed corpora carry these two bytes
// in front of each message (tests/fuzz/make_corpus.py).
//
// FUZZ_CHECK states an invariant: when it breaks, the target prints what broke and
// aborts, and libFuzzer saves the input as crash-<sha1> (the README says where).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace sidemeter::fuzz {

struct FuzzInput {
  uint8_t options = 0;
  uint8_t split_seed = 0;
  std::string_view bytes;
};

// False when the input is too short to carry the option bytes (libFuzzer tries those).
inline bool take_options(const uint8_t* data, size_t size, FuzzInput& in) {
  if (size < 2) return false;
  in.options = data[0];
  in.split_seed = data[1];
  in.bytes = std::string_view(reinterpret_cast<const char*>(data) + 2, size - 2);
  return true;
}

// Sizes of the reads `n` bytes arrive in: one read for seed 0, else 1..64 bytes each from
// a small deterministic generator (the same input always splits the same way).
inline std::vector<size_t> read_sizes(size_t n, uint8_t seed) {
  std::vector<size_t> out;
  if (seed == 0) {
    if (n > 0) out.push_back(n);
    return out;
  }
  uint32_t x = 0x9E3779B9u ^ seed;
  while (n > 0) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    const size_t piece = std::min<size_t>(n, 1 + (x & 63));
    out.push_back(piece);
    n -= piece;
  }
  return out;
}

// Printable form of bytes for a failure report (CR, LF and non-printables escaped).
inline std::string escaped(std::string_view s, size_t max = 2048) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

[[noreturn]] inline void invariant_broken(const char* cond, const char* file, int line,
                                          const std::string& detail) {
  std::fprintf(stderr, "\n=== invariant broken: %s\n    at %s:%d\n%s\n", cond, file, line,
               detail.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace sidemeter::fuzz

// `detail` is any expression yielding std::string; evaluated only on failure.
#define FUZZ_CHECK(cond, detail)                                                   \
  do {                                                                             \
    if (!(cond)) ::sidemeter::fuzz::invariant_broken(#cond, __FILE__, __LINE__, (detail)); \
  } while (0)
