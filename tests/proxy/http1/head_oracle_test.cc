// The head differential oracle (tests/fuzz/head_oracle.h) over the seed corpora, which
// are the heads of the unit, integration and smuggling tests; and why our rules make the
// refusals llhttp made while it read every head too.
#include "tests/fuzz/head_oracle.h"

#include <gtest/gtest.h>
#include <llhttp.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "tests/proxy/http1/recording_sink.h"

namespace sidemeter::http {
namespace {

TEST(HeadOracleTest, ProductionParserAndLlhttpReadTheSeedHeadsAlike) {
  const char* root = std::getenv("SIDEMETER_SOURCE_ROOT");
  ASSERT_NE(root, nullptr) << "run by meson test (sets SIDEMETER_SOURCE_ROOT)";
  size_t compared = 0;
  size_t files = 0;
  for (const char* dir : {"tests/fuzz/corpus/request", "tests/fuzz/corpus/response"}) {
    for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(root) / dir)) {
      std::ifstream in(entry.path(), std::ios::binary);
      const std::string seed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (seed.size() < 2) continue;
      ++files;
      bool was_compared = false;
      EXPECT_EQ(fuzz::compare_head(std::string_view(seed).substr(2), &was_compared), "")
          << entry.path();
      compared += was_compared ? 1 : 0;
    }
  }
  // Most seeds are heads ours accepts; a handful compared would mean the oracle is idle.
  EXPECT_GT(files, 200u);
  EXPECT_GT(compared, files / 3);
}

// llhttp 8.1 alone on `raw`: its error (HPE_OK when it read the head and whatever body).
llhttp_errno_t llhttp_alone(llhttp_type_t type, const std::string& raw, bool* chunked = nullptr) {
  llhttp_settings_t settings;
  llhttp_settings_init(&settings);
  llhttp_t p;
  llhttp_init(&p, type, &settings);
  const llhttp_errno_t e = llhttp_execute(&p, raw.data(), raw.size());
  if (chunked != nullptr) *chunked = (p.flags & F_CHUNKED) != 0;
  return e;
}

// Each refusal our rules took over when llhttp stopped reading heads: llhttp 8.1 refuses
// (or reads another framing), so an upstream built on it would read the message
// differently; ours refuses with the reason the old error mapping gave. If Debian's
// llhttp stops refusing one, this fails and the rule deserves another look.
TEST(HeadOracleTest, RefusalsTakenOverFromLlhttp) {
  const struct {
    std::string raw;
    ParseError ours;
  } rows[] = {
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc",
       ParseError::kInvalidContentLength},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
       ParseError::kInvalidContentLength},
      {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\t\r\n\r\nabc",
       ParseError::kInvalidContentLength},
      {"PRI / HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::kInvalidVersion},
      {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n",
       ParseError::kTransferEncodingNotChunkedLast},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.raw);
    EXPECT_NE(llhttp_alone(HTTP_REQUEST, row.raw), HPE_OK);
    EXPECT_EQ(testing::run(MessageKind::kRequest, row.raw).error, row.ours);
  }
  // A response: llhttp reads "chunked<HTAB>" as another coding, so the body as
  // close-delimited.
  const std::string resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n";
  bool chunked = true;
  EXPECT_EQ(llhttp_alone(HTTP_RESPONSE, resp, &chunked), HPE_OK);
  EXPECT_FALSE(chunked);
  EXPECT_EQ(testing::run(MessageKind::kResponse, resp).error,
            ParseError::kTransferEncodingNotChunkedLast);
  // SP there reads the same to both.
  const std::string sp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked  \r\n\r\n";
  EXPECT_EQ(llhttp_alone(HTTP_RESPONSE, sp, &chunked), HPE_OK);
  EXPECT_TRUE(chunked);
  EXPECT_EQ(fuzz::compare_head(sp), "");
}

}  // namespace
}  // namespace sidemeter::http
