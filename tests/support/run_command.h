#pragma once
// Runs an external program (openssl, curl) with a deadline: stdin from a string, stdout
// and stderr captured. A child still running at the deadline is killed (its whole
// process group), so a hung tool fails a test instead of hanging it.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sidemeter::testing {

struct CommandResult {
  std::optional<int> exit_code;  // 128+signal if killed by one; nullopt: could not run
  bool timed_out = false;
  std::string out;
  std::string err;
  std::string describe() const;  // for failure messages
};

// argv[0] is looked up in PATH. `input` is written to the child's stdin, which is then
// closed.
CommandResult run_command(const std::vector<std::string>& argv, std::string_view input = "",
                          std::chrono::milliseconds timeout = std::chrono::seconds(20));

// True if `argv[0] --version`-style probing finds the tool (exit 0).
bool have_tool(const std::vector<std::string>& argv);

}  // namespace sidemeter::testing
