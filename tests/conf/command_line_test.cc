#include <gtest/gtest.h>

#include <vector>

#include "conf/config.h"

using namespace sidemeter::conf;

namespace {

CommandLine parse(std::vector<const char*> args) {
  args.insert(args.begin(), "sidemeter");
  return parse_command_line(static_cast<int>(args.size()), args.data());
}

std::string error_of(std::vector<const char*> args) {
  try {
    parse(std::move(args));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(CommandLine, EveryFlagInBothForms) {
  CommandLine c = parse({"--config", "a.yaml", "--listen=127.0.0.1:1", "--upstream", "b:2",
                         "--stats=[::1]:3", "--workers", "4", "--demo"});
  EXPECT_EQ(c.action, CliAction::kRun);
  EXPECT_EQ(c.config_path, "a.yaml");
  EXPECT_EQ(c.listen, (HostPort{"127.0.0.1", 1}));
  EXPECT_EQ(c.upstream, (HostPort{"b", 2}));
  EXPECT_EQ(c.stats, (HostPort{"::1", 3}));
  EXPECT_EQ(c.workers, 4u);
  EXPECT_TRUE(c.demo);
}

TEST(CommandLine, NothingGivenLeavesEverythingUnset) {
  CommandLine c = parse({});
  EXPECT_EQ(c.action, CliAction::kRun);
  EXPECT_EQ(c.config_path, "");
  EXPECT_FALSE(c.listen || c.upstream || c.stats || c.workers || c.demo);
}

TEST(CommandLine, Actions) {
  EXPECT_EQ(parse({"--help"}).action, CliAction::kHelp);
  EXPECT_EQ(parse({"-h"}).action, CliAction::kHelp);
  EXPECT_EQ(parse({"--bogus", "--help"}).action, CliAction::kHelp);
  EXPECT_EQ(parse({"--version"}).action, CliAction::kVersion);
  CommandLine check = parse({"--check-config", "x.yaml"});
  EXPECT_EQ(check.action, CliAction::kCheckConfig);
  EXPECT_EQ(check.config_path, "x.yaml");
  CommandLine print = parse({"--print-config", "--config=y.yaml"});
  EXPECT_EQ(print.action, CliAction::kPrintConfig);
  EXPECT_EQ(print.config_path, "y.yaml");
}

TEST(CommandLine, Errors) {
  EXPECT_EQ(error_of({"--frobnicate", "1"}), "unknown option '--frobnicate' (see --help)");
  EXPECT_EQ(error_of({"stray"}), "unexpected argument 'stray' (see --help)");
  EXPECT_EQ(error_of({"--upstream"}), "--upstream: missing value");
  EXPECT_EQ(error_of({"--workers", "-1"}), "--workers: expected a number 0-256, got '-1'");
  EXPECT_EQ(error_of({"--workers=257"}), "--workers: expected a number 0-256, got '257'");
  EXPECT_EQ(error_of({"--workers="}), "--workers: expected a number 0-256, got ''");
  EXPECT_EQ(error_of({"--listen", "nowhere"}), "--listen: 'nowhere': expected HOST:PORT");
  EXPECT_EQ(error_of({"--demo=yes"}), "--demo: takes no value");
  EXPECT_EQ(error_of({"--check-config", "a", "--print-config"}),
            "--check-config and --print-config are exclusive");
  EXPECT_EQ(error_of({"--check-config", "a", "--config", "b"}),
            "--check-config: names the file to check; drop --config");
}

TEST(CommandLine, UsageListsEveryFlagAndExitCode) {
  std::string u = usage_text();
  for (const char* s : {"--config FILE", "--listen HOST:PORT", "--upstream HOST:PORT",
                        "--stats HOST:PORT", "--workers N", "--demo", "--check-config FILE",
                        "--print-config", "--help", "--version", "[0.0.0.0:8080]",
                        "[127.0.0.1:8000]", "[127.0.0.1:9901]", "\n  0  ", "\n  1  ",
                        "\n  2  ", "\n  3  ", "\n  4  "})
    EXPECT_NE(u.find(s), std::string::npos) << s;
}
