#include <charconv>
#include <string_view>

#include "conf/config.h"

namespace sidemeter::conf {

std::string usage_text() {
  return "usage: sidemeter [--config FILE] [--listen HOST:PORT] [--upstream HOST:PORT]\n"
         "                 [--stats HOST:PORT] [--workers N] [--help] [--version]\n"
         "\n"
         "  --config FILE        YAML configuration (flags given here override it)\n"
         "  --listen HOST:PORT   downstream (client) listener      [0.0.0.0:8080]\n"
         "  --upstream HOST:PORT the backend; omitted: a built-in demo backend and\n"
         "                       light demo traffic are started     [127.0.0.1:8000]\n"
         "  --stats HOST:PORT    stats/metrics/dashboard listener   [127.0.0.1:9901]\n"
         "  --workers N          worker threads (0 = CPU count)     [CPU count]\n"
         "  --help               this text\n"
         "  --version            print the version\n";
}

CliAction parse_command_line(int argc, const char* const* argv, Config& cfg) {
  struct Flag {
    std::string_view name;
    std::string value;
  };
  std::vector<Flag> flags;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return CliAction::kHelp;
    if (arg == "--version") return CliAction::kVersion;
    std::string value;
    std::string_view name = arg;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = std::string(arg.substr(eq + 1));
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw ConfigError(std::string(arg) + ": missing value");
    }
    if (name != "--config" && name != "--listen" && name != "--upstream" && name != "--stats" &&
        name != "--workers")
      throw ConfigError("unknown option '" + std::string(name) + "' (see --help)");
    flags.push_back({name, value});
  }
  // The file first, so that flags override whatever it says.
  for (const auto& f : flags) {
    if (f.name == "--config") {
      cfg.config_path = f.value;
      load_yaml_file(f.value, cfg);
    }
  }
  for (const auto& f : flags) {
    if (f.name == "--listen") {
      cfg.listen = parse_host_port(f.value);
    } else if (f.name == "--upstream") {
      cfg.upstream = parse_host_port(f.value);
      cfg.upstream_given = true;
    } else if (f.name == "--stats") {
      cfg.stats = parse_host_port(f.value);
    } else if (f.name == "--workers") {
      uint32_t n = 0;
      auto [end, ec] = std::from_chars(f.value.data(), f.value.data() + f.value.size(), n);
      if (ec != std::errc() || end != f.value.data() + f.value.size() || n > 256)
        throw ConfigError("--workers: expected a number 0-256, got '" + f.value + "'");
      cfg.workers = n;
    }
  }
  return CliAction::kRun;
}

}  // namespace sidemeter::conf
