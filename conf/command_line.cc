#include <charconv>
#include <string_view>

#include "conf/config.h"

namespace sidemeter::conf {
namespace {

HostPort flag_host_port(std::string_view flag, const std::string& value) {
  try {
    return parse_host_port(value);
  } catch (const ConfigError& e) {
    throw ConfigError(std::string(flag) + ": " + e.what());
  }
}

uint32_t flag_workers(const std::string& value) {
  uint32_t n = 0;
  const char* end = value.data() + value.size();
  auto [stop, ec] = std::from_chars(value.data(), end, n);
  if (value.empty() || ec != std::errc() || stop != end || n > 256)
    throw ConfigError("--workers: expected a number 0-256, got '" + value + "'");
  return n;
}

}  // namespace

std::string usage_text() {
  return "usage: sidemeter [--config FILE] [--listen HOST:PORT] [--upstream HOST:PORT]\n"
         "                 [--stats HOST:PORT] [--workers N] [--demo]\n"
         "       sidemeter --check-config FILE\n"
         "       sidemeter [--config FILE] [flags] --print-config\n"
         "\n"
         "  --config FILE         YAML configuration; flags given here override it, on\n"
         "                        every reload too (SIGHUP, POST /-/reload)\n"
         "  --listen HOST:PORT    downstream (client) listener        [0.0.0.0:8080]\n"
         "  --upstream HOST:PORT  the backend (upstream.address)      [127.0.0.1:8000]\n"
         "  --stats HOST:PORT     stats/metrics/dashboard listener    [127.0.0.1:9901]\n"
         "  --workers N           worker threads, 0-256; 0 = the cgroup CPU quota,\n"
         "                        else the CPUs this process may run on          [0]\n"
         "  --demo                a built-in demo backend and light demo traffic\n"
         "                        instead of the upstream\n"
         "  --check-config FILE   validate FILE, print every error, exit\n"
         "  --print-config        print the effective configuration (secrets\n"
         "                        redacted) as YAML and exit\n"
         "  -h, --help            this text\n"
         "  --version             print the version\n"
         "\n"
         "Values may be given as --flag VALUE or --flag=VALUE.\n"
         "\n"
         "exit status:\n"
         "  0  ok; or stopped by a signal and drained cleanly\n"
         "  1  fatal start-up error (e.g. a listener cannot bind)\n"
         "  2  configuration error (every error is printed as FILE:LINE:COL: message)\n"
         "  3  drain timed out: the remaining connections were closed\n"
         "  4  stopped by a second signal during the drain\n";
}

CommandLine parse_command_line(int argc, const char* const* argv) {
  CommandLine cli;
  bool check = false;
  bool print = false;
  std::string config_flag;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    // Help and version win over anything else on the line, even a bad flag.
    if (arg == "--help" || arg == "-h") cli.action = CliAction::kHelp;
    if (arg == "--version" && cli.action != CliAction::kHelp) cli.action = CliAction::kVersion;
  }
  if (cli.action != CliAction::kRun) return cli;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view name = arg;
    std::optional<std::string> inline_value;
    if (auto eq = arg.find('='); eq != std::string_view::npos && arg.substr(0, 2) == "--") {
      name = arg.substr(0, eq);
      inline_value = std::string(arg.substr(eq + 1));
    }
    if (name == "--demo" || name == "--print-config") {
      if (inline_value) throw ConfigError(std::string(name) + ": takes no value");
      (name == "--demo" ? cli.demo : print) = true;
      continue;
    }
    bool takes_value = name == "--config" || name == "--check-config" || name == "--listen" ||
                       name == "--upstream" || name == "--stats" || name == "--workers";
    if (!takes_value) {
      if (name.substr(0, 1) != "-")
        throw ConfigError("unexpected argument '" + std::string(arg) + "' (see --help)");
      throw ConfigError("unknown option '" + std::string(name) + "' (see --help)");
    }
    std::string value;
    if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw ConfigError(std::string(name) + ": missing value");
    }
    if (name == "--config") {
      config_flag = value;
    } else if (name == "--check-config") {
      check = true;
      cli.config_path = value;
    } else if (name == "--listen") {
      cli.listen = flag_host_port(name, value);
    } else if (name == "--upstream") {
      cli.upstream = flag_host_port(name, value);
    } else if (name == "--stats") {
      cli.stats = flag_host_port(name, value);
    } else {
      cli.workers = flag_workers(value);
    }
  }
  if (check && print) throw ConfigError("--check-config and --print-config are exclusive");
  if (check && !config_flag.empty() && config_flag != cli.config_path)
    throw ConfigError("--check-config: names the file to check; drop --config");
  if (!check) cli.config_path = config_flag;
  if (check) cli.action = CliAction::kCheckConfig;
  if (print) cli.action = CliAction::kPrintConfig;
  return cli;
}

}  // namespace sidemeter::conf
