// The field token table: every token found in any case, every other name (one byte off,
// one byte more or less, empty, long) not.
#include "proxy/http1/field_token.h"

#include <gtest/gtest.h>

#include <string>

#include "proxy/http1/field_rules.h"

namespace sidemeter::http {
namespace {

constexpr size_t kTokenCount = static_cast<size_t>(FieldToken::kCount);

FieldToken token(size_t i) { return static_cast<FieldToken>(i); }

// The token `name` is, by the table's names and a plain byte-wise compare: the oracle for
// lookup_field_token's switch and word compares.
FieldToken expected_token(std::string_view name) {
  for (size_t i = 1; i < kTokenCount; ++i) {
    if (rules::iequals(name, field_token_name(token(i)))) return token(i);
  }
  return FieldToken::kOther;
}

TEST(FieldTokenTest, EveryTokenByItsNameInAnyCase) {
  for (size_t i = 1; i < kTokenCount; ++i) {
    const std::string lower(field_token_name(token(i)));
    ASSERT_FALSE(lower.empty());
    std::string upper = lower;
    std::string title = lower;
    std::string alternating = lower;
    bool start = true;
    for (size_t k = 0; k < lower.size(); ++k) {
      const char c = lower[k];
      const char up = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
      upper[k] = up;
      if (start) title[k] = up;
      start = c == '-';
      if (k % 2 == 1) alternating[k] = up;
    }
    EXPECT_EQ(lookup_field_token(lower), token(i)) << lower;
    EXPECT_EQ(lookup_field_token(upper), token(i)) << upper;
    EXPECT_EQ(lookup_field_token(title), token(i)) << title;
    EXPECT_EQ(lookup_field_token(alternating), token(i)) << alternating;
  }
}

// Each byte of each name replaced by each of the 256 byte values: the token only when the
// byte is the same letter in either case (so '-' never matches '\r', the byte that '-'
// becomes when 0x20 is cleared, nor '_'), else kOther.
TEST(FieldTokenTest, EveryOneByteChangeIsAnotherName) {
  for (size_t i = 1; i < kTokenCount; ++i) {
    const std::string name(field_token_name(token(i)));
    for (size_t k = 0; k < name.size(); ++k) {
      for (int b = 0; b < 256; ++b) {
        std::string changed = name;
        changed[k] = static_cast<char>(b);
        const bool same = rules::to_lower(static_cast<char>(b)) == name[k];
        ASSERT_EQ(lookup_field_token(changed), same ? token(i) : FieldToken::kOther)
            << name << " with byte " << k << " = " << b;
      }
    }
  }
}

TEST(FieldTokenTest, PrefixesAndExtensionsAreOtherNames) {
  for (size_t i = 1; i < kTokenCount; ++i) {
    const std::string name(field_token_name(token(i)));
    for (size_t len = 0; len < name.size(); ++len) {
      const std::string prefix = name.substr(0, len);
      EXPECT_EQ(lookup_field_token(prefix), expected_token(prefix)) << prefix;
      const std::string suffix = name.substr(name.size() - len);
      EXPECT_EQ(lookup_field_token(suffix), expected_token(suffix)) << suffix;
    }
    EXPECT_EQ(lookup_field_token(name + "s"), FieldToken::kOther);
    EXPECT_EQ(lookup_field_token("x" + name), FieldToken::kOther);
    EXPECT_EQ(lookup_field_token(name + ":"), FieldToken::kOther);
    EXPECT_EQ(lookup_field_token(name + " "), FieldToken::kOther);
  }
}

// Names of a token's length whose last byte is another token's (the switch's second
// key): the whole name still decides.
TEST(FieldTokenTest, SameLengthAndLastByteIsNotEnough) {
  EXPECT_EQ(lookup_field_token("etag"), FieldToken::kOther);        // 4 bytes, no candidate
  EXPECT_EQ(lookup_field_token("vary"), FieldToken::kOther);
  EXPECT_EQ(lookup_field_token("cost"), FieldToken::kOther);        // ...t like host
  EXPECT_EQ(lookup_field_token("gate"), FieldToken::kOther);        // ...e like date
  EXPECT_EQ(lookup_field_token("user-agent"), FieldToken::kOther);  // 10 bytes
  EXPECT_EQ(lookup_field_token("set-cookie"), FieldToken::kOther);  // ...e like keep-alive
  EXPECT_EQ(lookup_field_token("content-type"), FieldToken::kOther);  // 12 like max-forwards
  EXPECT_EQ(lookup_field_token("content-encoding"), FieldToken::kOther);   // 16, ...g
  EXPECT_EQ(lookup_field_token("content-location"), FieldToken::kOther);   // 16, ...n
  EXPECT_EQ(lookup_field_token("x-forwarded-port"), FieldToken::kOther);   // 16, ...t
  EXPECT_EQ(lookup_field_token("x-forwarded-fox"), FieldToken::kOther);
  EXPECT_EQ(lookup_field_token("if-modified-since"), FieldToken::kOther);  // 17, ...e
  EXPECT_EQ(lookup_field_token("transfer_encoding"), FieldToken::kOther);  // '_' is not '-'
  EXPECT_EQ(lookup_field_token("Content_Length"), FieldToken::kOther);
  EXPECT_EQ(lookup_field_token("content-disposition"), FieldToken::kOther);  // 19, ...n
  EXPECT_EQ(lookup_field_token("accept"), FieldToken::kOther);
  EXPECT_EQ(lookup_field_token("server"), FieldToken::kOther);
  EXPECT_EQ(lookup_field_token("last-modified"), FieldToken::kOther);
}

TEST(FieldTokenTest, EmptyShortAndLongNames) {
  EXPECT_EQ(lookup_field_token(""), FieldToken::kOther);
  EXPECT_EQ(lookup_field_token("t"), FieldToken::kOther);
  EXPECT_EQ(lookup_field_token("T"), FieldToken::kOther);
  EXPECT_EQ(lookup_field_token(std::string(19, 'x')), FieldToken::kOther);
  EXPECT_EQ(lookup_field_token(std::string(20, 'a')), FieldToken::kOther);
  EXPECT_EQ(lookup_field_token(std::string(4096, 'n')), FieldToken::kOther);
  // A view into a longer buffer: only its own bytes count.
  const std::string buffer = "hostname";
  EXPECT_EQ(lookup_field_token(std::string_view(buffer).substr(0, 4)), FieldToken::kHost);
  const std::string nul("te\0", 3);
  EXPECT_EQ(lookup_field_token(nul), FieldToken::kOther);
  EXPECT_EQ(lookup_field_token(std::string_view(nul).substr(0, 2)), FieldToken::kTe);
}

// Every name of every length up to 20 over a small alphabet that spells the tokens'
// bytes would be too many; random names of the tokens' lengths, drawn from the bytes
// they use in both cases plus neighbours, agree with the byte-wise oracle.
TEST(FieldTokenTest, RandomNamesAgreeWithTheTable) {
  const std::string alphabet = "-_\r\x7f" "abcdefghijklmnopqrstuvwxyzACDEFHINOPRSTVWX@[`{0";
  uint64_t state = 0x9e3779b97f4a7c15ULL;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  size_t matched = 0;
  for (int round = 0; round < 200000; ++round) {
    const size_t ref = 1 + next() % (kTokenCount - 1);
    std::string name(field_token_name(token(ref)));
    // Keep most bytes of a real token so that matches and near misses both occur.
    const size_t changes = next() % 3;
    for (size_t c = 0; c < changes; ++c) name[next() % name.size()] = alphabet[next() % alphabet.size()];
    if (next() % 2 == 0) {
      for (char& ch : name) {
        if (ch >= 'a' && ch <= 'z' && next() % 2 == 0) ch = static_cast<char>(ch - 32);
      }
    }
    const FieldToken want = expected_token(name);
    ASSERT_EQ(lookup_field_token(name), want) << name;
    if (want != FieldToken::kOther) ++matched;
  }
  EXPECT_GT(matched, 1000u);  // the draw exercised both outcomes
}

TEST(FieldTokenTest, FlagsSayWhyANameIsSpecial) {
  auto flags = [](FieldToken t) { return field_token_flags(t); };
  EXPECT_EQ(flags(FieldToken::kOther), 0);
  EXPECT_EQ(flags(FieldToken::kCount), 0);
  EXPECT_EQ(field_token_name(FieldToken::kCount), "");
  for (FieldToken t : {FieldToken::kConnection, FieldToken::kKeepAlive,
                       FieldToken::kProxyConnection, FieldToken::kTe,
                       FieldToken::kTransferEncoding, FieldToken::kUpgrade}) {
    EXPECT_NE(flags(t) & kConnectionSpecific, 0) << field_token_name(t);
  }
  for (FieldToken t :
       {FieldToken::kContentLength, FieldToken::kTransferEncoding, FieldToken::kTrailer}) {
    EXPECT_NE(flags(t) & kFraming, 0) << field_token_name(t);
  }
  for (FieldToken t : {FieldToken::kProxyAuthenticate, FieldToken::kProxyAuthorization}) {
    EXPECT_EQ(flags(t), kProxyCredentials) << field_token_name(t);
  }
  for (FieldToken t : {FieldToken::kVia, FieldToken::kForwarded, FieldToken::kXForwardedFor,
                       FieldToken::kXForwardedHost, FieldToken::kXForwardedProto}) {
    EXPECT_EQ(flags(t), kForwardingPath) << field_token_name(t);
  }
  // Special by id alone (the serializer's roles, the parser's Expect), not dropped.
  for (FieldToken t : {FieldToken::kHost, FieldToken::kDate, FieldToken::kExpect,
                       FieldToken::kMaxForwards}) {
    EXPECT_EQ(flags(t), 0) << field_token_name(t);
  }
}

}  // namespace
}  // namespace sidemeter::http
