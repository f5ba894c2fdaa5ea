// The parser's field-line fast path (parser.cc, fast_field_lines) against the general path
// it skips: the general path reads a line completed in the parser's own buffer, which is
// what every line becomes when the bytes come one per feed. So the same bytes fed whole
// and byte by byte must give the same heads, the same refusal and the same consumed
// count, for the seed corpora and for variations of their field lines that put each
// kind of unusual byte where the fast path decides (name, colon, OWS, value, line end).
// Also: find_ctl (the fast path's line scan) against the byte loop it replaces, and the
// field token every parsed field carries against lookup_field_token.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "proxy/http1/field_rules.h"
#include "proxy/http1/field_token.h"
#include "proxy/http1/parser.h"
#include "tests/proxy/http1/recording_sink.h"

namespace sidemeter::http {
namespace {

using testing::run;
using testing::RunResult;

size_t reference_find_ctl(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return i;
  }
  return s.size();
}

// Every byte value at every position of lines shorter and longer than a 16-byte block,
// with 0 to 20 readable bytes before them (the overlapping last block) and a CTL-laden
// neighbourhood that must not matter.
TEST(ParserFastPathTest, FindCtlMatchesByteLoop) {
  for (size_t before = 0; before <= 20; before += 1) {
    for (size_t len : {size_t{0}, size_t{1}, size_t{2}, size_t{7}, size_t{15}, size_t{16},
                       size_t{17}, size_t{31}, size_t{32}, size_t{33}, size_t{47}}) {
      for (size_t pos = 0; pos < len; ++pos) {
        for (int b = 0; b < 256; ++b) {
          // CTLs before and after the line: a scan that looks outside it would see them.
          std::string buf(before, '\x01');
          buf.append(len, 'a');
          buf.append(16, '\n');
          buf[before + pos] = static_cast<char>(b);
          const std::string_view line = std::string_view(buf).substr(before, len);
          ASSERT_EQ(rules::find_ctl(line.data(), len, before), reference_find_ctl(line))
              << before << " " << len << " " << pos << " " << b;
        }
      }
      std::string clean(before + len, 'z');
      ASSERT_EQ(rules::find_ctl(clean.data() + before, len, before), len);
    }
  }
}

// Whole (fast path) and byte by byte (general path) agree on everything the parser says.
void expect_same_whole_and_split(MessageKind kind, std::string_view raw) {
  SCOPED_TRACE(std::string(raw.substr(0, 300)));
  const RunResult whole = run(kind, raw);
  const RunResult split = run(kind, raw, 1);
  EXPECT_EQ(whole.error, split.error) << parse_error_info(whole.error).reason << " vs "
                                      << parse_error_info(split.error).reason;
  EXPECT_EQ(whole.consumed, split.consumed);
  ASSERT_EQ(whole.messages.size(), split.messages.size());
  for (size_t i = 0; i < whole.messages.size(); ++i) {
    EXPECT_EQ(whole.messages[i], split.messages[i]) << "message " << i;
    EXPECT_TRUE(whole.messages[i].head.tokens_right);
  }
  // Head buffers from a pool (a worker's request parsers): taken at each message's first
  // byte, empty and of whatever size the pool has, given back at each reset.
  static HeadBufferPool pool(4);
  for (const size_t step : {size_t{0}, size_t{1}}) {
    const RunResult pooled = run(kind, raw, step, {}, Method::kGet, false, &pool);
    EXPECT_EQ(pooled.error, whole.error) << step;
    EXPECT_EQ(pooled.consumed, whole.consumed) << step;
    ASSERT_EQ(pooled.messages.size(), whole.messages.size()) << step;
    for (size_t i = 0; i < whole.messages.size(); ++i) {
      EXPECT_EQ(pooled.messages[i], whole.messages[i]) << step << " message " << i;
    }
  }
}

std::vector<std::string> seeds(const char* dir) {
  std::vector<std::string> out;
  const char* root = std::getenv("SIDEMETER_SOURCE_ROOT");
  if (root == nullptr) return out;
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(root) / dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string seed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (seed.size() > 2) out.push_back(seed.substr(2));  // the fuzzers' two option bytes
  }
  return out;
}

// Fields are made as their lines are read, with views into the parser's head buffer at
// the offsets their bytes will have: heads past its initial size (1 KiB) make it grow
// while lines are read where they lie (fed whole), as lines are completed in it (byte by
// byte) and between feeds (pieces), and on the second message of a connection (grown
// once, then reused). Every field must still read as sent, in every way of feeding.
TEST(ParserFastPathTest, FieldsSurviveHeadBufferGrowth) {
  std::vector<std::pair<std::string, std::string>> want = {{"Host", "h"}};
  std::string head = "GET /big HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 70; ++i) {
    std::string name = "X-Field-" + std::to_string(i);
    std::string value(20 + 3 * static_cast<size_t>(i), static_cast<char>('a' + i % 26));
    // Some lines for the general path (a HTAB before the value) among the fast ones.
    head += name + (i % 9 == 4 ? ":\t" : ": ") + value + "\r\n";
    want.emplace_back(std::move(name), std::move(value));
  }
  head += "\r\n";
  ASSERT_GT(head.size(), 4096u);
  const std::string small = "GET /small HTTP/1.1\r\nHost: h\r\nA: b\r\n\r\n";
  const std::string raw = small + head + small + head;
  for (size_t step : {size_t{0}, size_t{1}, size_t{5}, size_t{100}, size_t{1000}, size_t{3000}}) {
    const RunResult r = run(MessageKind::kRequest, raw, step);
    EXPECT_EQ(r.error, ParseError::kNone) << step;
    EXPECT_EQ(r.consumed, raw.size()) << step;
    ASSERT_EQ(r.messages.size(), 4u) << step;
    for (size_t m : {size_t{1}, size_t{3}}) {
      EXPECT_EQ(r.messages[m].head.fields, want) << step << " " << m;
      EXPECT_TRUE(r.messages[m].head.tokens_right);
      EXPECT_EQ(r.messages[m].head.wire_bytes, head.size());
    }
    const std::vector<std::pair<std::string, std::string>> want_small = {{"Host", "h"},
                                                                          {"A", "b"}};
    EXPECT_EQ(r.messages[0].head.fields, want_small) << step;
    EXPECT_EQ(r.messages[2].head.fields, want_small) << step;
  }
}

TEST(ParserFastPathTest, SeedHeadsReadAlikeWholeAndByteByByte) {
  ASSERT_NE(std::getenv("SIDEMETER_SOURCE_ROOT"), nullptr) << "run by meson test";
  size_t n = 0;
  for (const std::string& s : seeds("tests/fuzz/corpus/request")) {
    expect_same_whole_and_split(MessageKind::kRequest, s);
    ++n;
  }
  for (const std::string& s : seeds("tests/fuzz/corpus/response")) {
    expect_same_whole_and_split(MessageKind::kResponse, s);
    ++n;
  }
  EXPECT_GT(n, 200u);
}

// Bytes the fast path must hand to the general path (or read exactly as it would).
constexpr std::string_view kTricky[] = {
    "\t", " ", "\r", "\n", "\r\n", "\x01", "\x7f", "\x80", "\xff", ":", "_", "\"", "(", "@",
    "{", "A", "-", "\r\n ", "\r\n\t", "  \t", "\x00", ";", ",", "=", "\\",
};

// Each tricky byte string put at each position of each field line of a few heads:
// names, colons, OWS, values and line ends all get every kind of byte.
TEST(ParserFastPathTest, MutatedFieldLinesReadAlikeWholeAndByteByByte) {
  const struct {
    MessageKind kind;
    std::string raw;
  } heads[] = {
      {MessageKind::kRequest, "GET /ok HTTP/1.1\r\nHost: bench\r\n\r\n"},
      {MessageKind::kRequest,
       "POST /a?b HTTP/1.1\r\nHost: a.example:8080\r\nContent-Length: 3\r\nX-Forwarded-For: "
       "1.2.3.4\r\nConnection: keep-alive\r\nExpect: 100-continue\r\n\r\nabc"},
      {MessageKind::kResponse,
       "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Mon, 30 Nov 2026 14:30:00 GMT\r\n"
       "Content-Type: application/octet-stream\r\nContent-Length: 2\r\nConnection: "
       "keep-alive\r\nETag: \"65f1a2b3-2\"\r\nTransfer-Encoding: chunked\r\n\r\nok"},
      {MessageKind::kResponse,
       "HTTP/1.0 204 No Content\r\nVia: 1.1 a\r\nKeep-Alive: timeout=5\r\n\r\n"},
  };
  size_t cases = 0;
  for (const auto& h : heads) {
    const size_t first_field = h.raw.find("\r\n") + 2;
    const size_t head_end = h.raw.find("\r\n\r\n") + 4;
    for (size_t pos = first_field; pos <= head_end; ++pos) {
      for (std::string_view t : kTricky) {
        std::string inserted = h.raw;
        inserted.insert(pos, t);
        expect_same_whole_and_split(h.kind, inserted);
        if (pos < head_end) {
          std::string replaced = h.raw;
          replaced.replace(pos, 1, t);
          expect_same_whole_and_split(h.kind, replaced);
        }
        cases += 2;
      }
    }
  }
  EXPECT_GT(cases, 5000u);
}

// The start line's fast path (fast_start_line) against the general path: each tricky
// byte string (and the bytes the start-line grammar decides on) put at each position of
// request and status lines of every form, whole against byte by byte.
TEST(ParserFastPathTest, MutatedStartLinesReadAlikeWholeAndByteByByte) {
  constexpr std::string_view kStartTricky[] = {"?", "#", "/", "*", "0", "1", "9", "6", ".",
                                               "H", "HTTP/1.1", "  ", "\r\r", "\x7f\r\n"};
  const struct {
    MessageKind kind;
    std::string raw;
  } heads[] = {
      {MessageKind::kRequest, "GET /ok HTTP/1.1\r\nHost: bench\r\n\r\n"},
      {MessageKind::kRequest, "GET / HTTP/1.0\r\n\r\n"},
      {MessageKind::kRequest, "POST /a/b?c=d&e HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx"},
      {MessageKind::kRequest, "PROPFIND /a/very/long/path/over/sixteen/bytes?q HTTP/1.1\r\nHost: h\r\n\r\n"},
      {MessageKind::kRequest, "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"},
      {MessageKind::kRequest, "GET http://h/p?q HTTP/1.1\r\nHost: h\r\n\r\n"},
      {MessageKind::kRequest, "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"},
      {MessageKind::kRequest, "PRI / HTTP/1.1\r\nHost: h\r\n\r\n"},
      {MessageKind::kRequest, "\r\n\r\nGET /lead HTTP/1.1\r\nHost: h\r\n\r\n"},
      {MessageKind::kResponse, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
      {MessageKind::kResponse, "HTTP/1.0 404 Not\tFound\r\n\r\n"},
      {MessageKind::kResponse, "HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n"},
      {MessageKind::kResponse, "HTTP/1.1 100\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"},
  };
  size_t cases = 0;
  for (const auto& h : heads) {
    expect_same_whole_and_split(h.kind, h.raw);
    const size_t first_field = h.raw.find("\r\n", h.raw.find_first_not_of("\r\n")) + 2;
    for (size_t pos = 0; pos < first_field; ++pos) {
      const auto mutate = [&](std::string_view t) {
        std::string inserted = h.raw;
        inserted.insert(pos, t);
        expect_same_whole_and_split(h.kind, inserted);
        std::string replaced = h.raw;
        replaced.replace(pos, 1, t);
        expect_same_whole_and_split(h.kind, replaced);
        std::string removed = h.raw;
        removed.erase(pos, 1);
        expect_same_whole_and_split(h.kind, removed);
        cases += 3;
      };
      for (std::string_view t : kTricky) mutate(t);
      for (std::string_view t : kStartTricky) mutate(t);
    }
  }
  EXPECT_GT(cases, 10000u);
}

// Start-line limits hit by a line the fast path would otherwise take: the general path's
// refusal, whole and byte by byte alike.
TEST(ParserFastPathTest, StartLineLimitsRefuseAlikeWholeAndByteByByte) {
  const struct {
    MessageKind kind;
    std::string raw;
  } heads[] = {
      {MessageKind::kRequest, "GET /path?q HTTP/1.1\r\nHost: a\r\n\r\n"},
      {MessageKind::kResponse, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
  };
  for (const auto& h : heads) {
    const size_t line = h.raw.find("\r\n");
    for (uint32_t max_line = 0; max_line <= line + 1; ++max_line) {
      ParserLimits l;
      l.max_start_line_bytes = max_line;
      const RunResult whole = run(h.kind, h.raw, 0, l);
      const RunResult split = run(h.kind, h.raw, 1, l);
      EXPECT_EQ(whole.error, split.error) << max_line;
      EXPECT_EQ(whole.messages, split.messages) << max_line;
      EXPECT_EQ(whole.error, max_line < line ? ParseError::kRequestLineTooLong : ParseError::kNone)
          << max_line;
    }
    for (uint32_t max_head = 1; max_head <= line + 3; ++max_head) {
      ParserLimits l;
      l.max_head_bytes = max_head;
      const RunResult whole = run(h.kind, h.raw, 0, l);
      const RunResult split = run(h.kind, h.raw, 1, l);
      EXPECT_EQ(whole.error, split.error) << max_head;
      EXPECT_EQ(whole.error, ParseError::kHeadersTooLarge) << max_head;
    }
  }
}

// Random heads made of field-line pieces, whole against byte by byte, and against pieces
// of random sizes (lines cut anywhere, the rest then read by the fast path again).
TEST(ParserFastPathTest, RandomHeadsReadAlikeHoweverFed) {
  constexpr std::string_view kNames[] = {"Host", "content-length", "Content_Length",
                                         "Transfer-Encoding", "Connection", "X-A", "expect",
                                         "Upgrade", "Via", "te", "a", "Max-Forwards"};
  constexpr std::string_view kValues[] = {"", "x", "bench", "12", "chunked", "close",
                                          "keep-alive, Upgrade", "100-continue", "h2c",
                                          "a b", "1.1 x", "0"};
  std::mt19937 rng(1234);
  const auto pick = [&](auto& list) { return list[rng() % std::size(list)]; };
  for (int iter = 0; iter < 3000; ++iter) {
    const bool request = rng() % 2 == 0;
    std::string raw = request ? "POST /p HTTP/1.1\r\n" : "HTTP/1.1 200 OK\r\n";
    const int fields = static_cast<int>(rng() % 8);
    for (int f = 0; f < fields; ++f) {
      raw += pick(kNames);
      raw += rng() % 8 == 0 ? std::string(pick(kTricky)) : std::string();
      raw += ":";
      raw += std::string(rng() % 3, ' ');
      raw += pick(kValues);
      if (rng() % 6 == 0) raw += pick(kTricky);
      raw += std::string(rng() % 2, ' ');
      raw += "\r\n";
    }
    raw += "\r\nabc";
    const MessageKind kind = request ? MessageKind::kRequest : MessageKind::kResponse;
    expect_same_whole_and_split(kind, raw);
    const RunResult whole = run(kind, raw);
    const RunResult pieces = run(kind, raw, 1 + rng() % 20);
    EXPECT_EQ(whole.error, pieces.error) << raw;
    EXPECT_EQ(whole.messages, pieces.messages) << raw;
  }
}

// Limits hit by a line the fast path would otherwise take: the refusal is the general
// path's, whole and byte by byte alike.
TEST(ParserFastPathTest, LimitsRefuseAlikeWholeAndByteByByte) {
  const std::string raw =
      "GET / HTTP/1.1\r\nHost: a\r\nX-1: 1\r\nX-2: 2\r\nX-3: 3\r\nX-4: 4\r\n\r\n";
  for (uint32_t max_head = 20; max_head <= raw.size() + 1; ++max_head) {
    ParserLimits l;
    l.max_head_bytes = max_head;
    const RunResult whole = run(MessageKind::kRequest, raw, 0, l);
    const RunResult split = run(MessageKind::kRequest, raw, 1, l);
    EXPECT_EQ(whole.error, split.error) << max_head;
    EXPECT_EQ(whole.error, max_head < raw.size() ? ParseError::kHeadersTooLarge
                                                 : ParseError::kNone)
        << max_head;
  }
  for (uint32_t max_fields = 0; max_fields <= 6; ++max_fields) {
    ParserLimits l;
    l.max_fields = max_fields;
    const RunResult whole = run(MessageKind::kRequest, raw, 0, l);
    const RunResult split = run(MessageKind::kRequest, raw, 1, l);
    EXPECT_EQ(whole.error, split.error) << max_fields;
    EXPECT_EQ(whole.error, max_fields < 5 ? ParseError::kTooManyHeaders : ParseError::kNone)
        << max_fields;
  }
}

// The token travels with the field: the parser's is the lookup's, and a field built by
// hand (kFieldTokenUnknown) is looked up when asked.
TEST(ParserFastPathTest, FieldsCarryTheirToken) {
  const RunResult r =
      run(MessageKind::kRequest,
          "GET / HTTP/1.1\r\nhOsT: a\r\nX-Forwarded-For: 1\r\nVia:\t1.1 b\r\nFoo: x\r\n\r\n");
  ASSERT_EQ(r.error, ParseError::kNone);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_TRUE(r.messages[0].head.tokens_right);
  EXPECT_EQ(r.messages[0].head.fields.size(), 4u);

  HeaderField by_hand{"Keep-Alive", "timeout=5"};
  EXPECT_EQ(by_hand.token, kFieldTokenUnknown);
  EXPECT_EQ(field_token_of(by_hand), FieldToken::kKeepAlive);
  by_hand.token = FieldToken::kVia;  // what a parser set wins
  EXPECT_EQ(field_token_of(by_hand), FieldToken::kVia);
}

}  // namespace
}  // namespace sidemeter::http
