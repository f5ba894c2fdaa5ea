// The value grammars on their own: Content-Length, Host, transfer codings, lists.
#include "proxy/http1/field_rules.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sidemeter::http::rules {
namespace {

TEST(FieldRulesTest, CharClasses) {
  for (char c : std::string("!#$%&'*+-.^_`|~09azAZ")) EXPECT_TRUE(is_tchar(c)) << c;
  for (char c : std::string("()<>@,;:\\\"/[]?={} \t\x7f\x80")) EXPECT_FALSE(is_tchar(c)) << c;
  EXPECT_TRUE(has_class('\t', kFieldVchar));
  EXPECT_TRUE(has_class('\xff', kFieldVchar));
  EXPECT_FALSE(has_class('\r', kFieldVchar));
  EXPECT_FALSE(has_class('\0', kFieldVchar));
  EXPECT_FALSE(has_class('\x7f', kFieldVchar));
  EXPECT_FALSE(has_class('#', kTargetChar));
  EXPECT_FALSE(has_class(' ', kTargetChar));
}

// The word-at-a-time checks must agree with the byte table for every byte value at every
// position of a word and of the tail.
TEST(FieldRulesTest, WordChecksMatchByteTable) {
  for (size_t len : {size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{16}, size_t{23}}) {
    for (size_t pos = 0; pos < len; ++pos) {
      for (int b = 0; b < 256; ++b) {
        std::string s(len, 'a');
        s[pos] = static_cast<char>(b);
        ASSERT_EQ(is_field_value(s), all_of_class(s, kFieldVchar)) << len << " " << pos << " " << b;
        ASSERT_EQ(is_target(s), all_of_class(s, kTargetChar)) << len << " " << pos << " " << b;
      }
    }
  }
  EXPECT_TRUE(is_field_value("a\tb c\x80\xff~!0123456789"));
  EXPECT_FALSE(is_field_value("0123456789abcdef\r"));
  EXPECT_TRUE(is_target("/0123456789abcdef?x=1&y=2"));
  EXPECT_FALSE(is_target("/0123456789abcdef#frag"));
}

// The reference scan_line is meant to replace: memchr for the line end, then the byte
// table over the line without a CR right before the LF.
size_t reference_scan(std::string_view s, bool& clean) {
  const size_t nl = s.find('\n');
  if (nl == std::string_view::npos) return s.size();
  const size_t len = nl > 0 && s[nl - 1] == '\r' ? nl - 1 : nl;
  clean = all_of_class(s.substr(0, len), kFieldVchar);
  return nl;
}

// Every byte value at every position of lines that span the 16-byte blocks and the tail,
// with the line end at several places (none, in a block, in the tail, right at a block
// edge), followed by more bytes that must not matter.
TEST(FieldRulesTest, ScanLineMatchesReference) {
  for (size_t len :
       {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{31}, size_t{40}}) {
    for (const std::string end : {"", "\r\n", "\n", "\r", "\r\r\n", "\r\x01\n"}) {
      for (size_t pos = 0; pos <= len; ++pos) {
        for (int b = 0; b < 256; ++b) {
          std::string s(len, 'a');
          if (pos < len) s[pos] = static_cast<char>(b);
          s += end;
          s += "b\x01c\r\n";  // a later line: never looked at
          for (const std::string_view in :
               {std::string_view(s), std::string_view(s).substr(0, len + end.size())}) {
            bool want_clean = true;
            const size_t want = reference_scan(in, want_clean);
            bool clean = true;
            const size_t got = scan_line(in.data(), in.size(), clean);
            ASSERT_EQ(got, want) << len << " " << pos << " " << b << " " << end.size();
            if (got < in.size()) {
              ASSERT_EQ(clean, want_clean) << len << " " << pos << " " << b << " " << end.size();
            }
          }
          if (pos == len) break;  // no byte replaced: one pass is enough
        }
      }
    }
  }
  bool clean = false;
  EXPECT_EQ(scan_line("Host: a\tb\r\n", 11, clean), 10u);
  EXPECT_TRUE(clean);
  EXPECT_EQ(scan_line("Host: a\x7f\r\n", 10, clean), 9u);
  EXPECT_FALSE(clean);
  EXPECT_EQ(scan_line("0123456789abcdef\rX\n", 19, clean), 18u);
  EXPECT_FALSE(clean);
}

TEST(FieldRulesTest, CaseInsensitive) {
  EXPECT_TRUE(iequals_lower("Content-LENGTH", "content-length"));
  EXPECT_FALSE(iequals_lower("Content-Lengths", "content-length"));
  EXPECT_TRUE(iequals("HoSt", "hOsT"));
  EXPECT_FALSE(iequals("host", "hosts"));
  EXPECT_TRUE(iequals_lower_any_dash("Transfer_Encoding", "transfer-encoding"));
  EXPECT_TRUE(iequals_lower_any_dash("Transfer-Encoding", "transfer-encoding"));
  EXPECT_FALSE(iequals_lower_any_dash("Transfer.Encoding", "transfer-encoding"));
}

TEST(FieldRulesTest, ListIteration) {
  ListIterator it(" a ,b,, c\t");
  std::vector<std::string> got;
  std::string_view e;
  while (it.next(e)) got.emplace_back(e);
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b", "", "c"}));
  EXPECT_TRUE(list_contains("keep-alive, Upgrade", "upgrade"));
  EXPECT_FALSE(list_contains("keep-alive, Upgrades", "upgrade"));
}

TEST(FieldRulesTest, ContentLength) {
  uint64_t v = 0;
  EXPECT_TRUE(parse_content_length("0", v));
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(parse_content_length("9223372036854775807", v));
  EXPECT_EQ(v, 9223372036854775807u);
  EXPECT_TRUE(parse_content_length("007", v));
  EXPECT_EQ(v, 7u);
  // The list form of identical values is refused (see field_rules.h).
  for (const char* bad : {"", " ", "9223372036854775808", "1 2", "+1", "-1", "0x1", "1,2", "1,",
                          ",1", "1e3", "٣", "7, 7,7", "3,3", "3 ,3"}) {
    EXPECT_FALSE(parse_content_length(bad, v)) << bad;
  }
}

TEST(FieldRulesTest, Host) {
  for (const char* ok : {"a", "example.com", "EXAMPLE.com:8080", "[::1]", "[::1]:80", "10.0.0.1:1",
                         "a:", "a:65535", "xn--bcher-kva.ch", "a%20b", "a_b~c!$&'()*+,;="}) {
    EXPECT_TRUE(is_valid_host(ok)) << ok;
  }
  for (const char* bad : {"", ":80", "a b", "a/b", "u@a", "a:123456", "a:65536", "a:8x", "[::1",
                          "[]", "[::1]x", "[g::1]", "a%2", "a%zz", "a\"b", "a?b", "a#b"}) {
    EXPECT_FALSE(is_valid_host(bad)) << bad;
  }
}

// is_valid_host as it was before its reg-name loop stopped searching for the colon first:
// the oracle for the one-loop version.
bool reference_is_valid_host(std::string_view host) {
  if (host.empty()) return false;
  size_t port_at = std::string_view::npos;
  if (host[0] == '[') {
    const size_t close = host.find(']');
    if (close == std::string_view::npos || close < 2) return false;
    for (size_t i = 1; i < close; ++i) {
      const char c = host[i];
      if (!(has_class(c, kHexDigit) || c == ':' || c == '.')) return false;
    }
    if (close + 1 < host.size()) {
      if (host[close + 1] != ':') return false;
      port_at = close + 2;
    } else {
      port_at = host.size();
    }
  } else {
    const size_t colon = host.find(':');
    const std::string_view name = host.substr(0, colon);
    if (name.empty()) return false;
    for (size_t i = 0; i < name.size(); ++i) {
      const char c = name[i];
      if (!has_class(c, kRegNameChar)) return false;
      if (c == '%') {
        if (i + 2 >= name.size() || !has_class(name[i + 1], kHexDigit) ||
            !has_class(name[i + 2], kHexDigit)) {
          return false;
        }
        i += 2;
      }
    }
    port_at = colon == std::string_view::npos ? host.size() : colon + 1;
  }
  const std::string_view port = host.substr(port_at);
  if (port.size() > 5) return false;
  uint32_t v = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  return v <= 65535;
}

// Every string of up to 5 bytes over an alphabet of the bytes the grammar turns on, and
// longer random ones, against the reference.
TEST(FieldRulesTest, HostMatchesReference) {
  constexpr std::string_view kAlphabet = "a%2f:[].9 _g@";
  size_t accepted = 0;
  std::string s;
  const auto walk = [&](auto&& self, size_t len) -> void {
    ASSERT_EQ(is_valid_host(s), reference_is_valid_host(s)) << s;
    accepted += reference_is_valid_host(s) ? 1 : 0;
    if (len == 5) return;
    for (char c : kAlphabet) {
      s.push_back(c);
      self(self, len + 1);
      s.pop_back();
    }
  };
  walk(walk, 0);
  EXPECT_GT(accepted, 1000u);
  for (int b = 0; b < 256; ++b) {  // every byte value in a name and in a port
    for (std::string t : {std::string("ab"), std::string("a:8")}) {
      for (size_t pos = 0; pos <= t.size(); ++pos) {
        std::string u = t;
        u.insert(pos, 1, static_cast<char>(b));
        ASSERT_EQ(is_valid_host(u), reference_is_valid_host(u)) << b << " " << pos;
      }
    }
  }
  EXPECT_EQ(kCharClasses['%'] & kRegNameLiteral, 0);
  for (int c = 0; c < 256; ++c) {
    EXPECT_EQ(has_class(static_cast<char>(c), kRegNameLiteral),
              c != '%' && has_class(static_cast<char>(c), kRegNameChar))
        << c;
  }
}

TEST(FieldRulesTest, Codings) {
  EXPECT_EQ(classify_coding("chunked"), Coding::kChunked);
  EXPECT_EQ(classify_coding("ChUnKeD"), Coding::kChunked);
  EXPECT_EQ(classify_coding("gzip"), Coding::kKnownOther);
  EXPECT_EQ(classify_coding("x-compress"), Coding::kKnownOther);
  EXPECT_EQ(classify_coding("chunked;a=b"), Coding::kUnknown);
  EXPECT_EQ(classify_coding("br"), Coding::kUnknown);
  EXPECT_EQ(classify_coding(""), Coding::kInvalid);
  EXPECT_EQ(classify_coding("\"chunked\""), Coding::kInvalid);
  EXPECT_EQ(classify_coding("chunked x"), Coding::kInvalid);
}

}  // namespace
}  // namespace sidemeter::http::rules
