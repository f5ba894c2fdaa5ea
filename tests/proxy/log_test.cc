#include "proxy/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <string>

namespace sidemeter {
namespace {

// Runs fn with stderr pointing at a temporary file and returns what it wrote.
template <typename Fn>
std::string captured_stderr(Fn fn) {
  std::FILE* tmp = std::tmpfile();
  if (tmp == nullptr) return "tmpfile failed";
  const int saved = dup(STDERR_FILENO);
  dup2(fileno(tmp), STDERR_FILENO);
  fn();
  dup2(saved, STDERR_FILENO);
  close(saved);
  std::string out;
  std::rewind(tmp);
  char buf[512];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, tmp)) > 0;) out.append(buf, n);
  std::fclose(tmp);
  return out;
}

TEST(Log, LinesStayValidJsonWhateverTheFieldsHold) {
  const std::string line = captured_stderr([] {
    log::info("say \"hi\"", {{"path", std::string_view("/a\x01\xFF", 4)},
                             {"n", -5},
                             {"u", uint64_t{7}},
                             {"nan", std::nan("")},
                             {"inf", HUGE_VAL},
                             {"half", 0.5},
                             {"ok", true}});
  });
  ASSERT_EQ(line.rfind("{\"ts\":\"", 0), 0u) << line;
  const std::string tail =
      "\"level\":\"info\",\"event\":\"say \\\"hi\\\"\",\"path\":\"/a\\u0001\xEF\xBF\xBD\","
      "\"n\":-5,\"u\":7,\"nan\":0,\"inf\":0,\"half\":0.5,\"ok\":true}\n";
  ASSERT_GE(line.size(), tail.size()) << line;
  EXPECT_EQ(line.substr(line.size() - tail.size()), tail);
}

TEST(Log, BelowTheMinimumLevelNothingIsWritten) {
  log::set_min_level(log::Level::kWarn);
  const std::string out = captured_stderr([] { log::info("quiet"); });
  log::set_min_level(log::Level::kInfo);
  EXPECT_EQ(out, "");
}

}  // namespace
}  // namespace sidemeter
