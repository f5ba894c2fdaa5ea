#pragma once
// Loads YAML text from a temp file; errors come back with the file's path replaced by
// "F", so expectations read "F:2:3: ...".
#include <map>
#include <string>
#include <vector>

#include "conf/config.h"
#include "tests/conf/temp_file.h"

namespace sidemeter::conf::testing {

inline Environment fake_env(std::map<std::string, std::string> vars = {}) {
  return [vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

struct TextLoad {
  std::shared_ptr<const Config> config;
  std::vector<std::string> errors;
};

inline TextLoad load_text(const std::string& yaml, const Environment& env = fake_env(),
                          CommandLine cli = {}) {
  TempDir dir;
  cli.config_path = dir.write("sidemeter.yaml", yaml);
  LoadResult r = load(cli, env);
  TextLoad out{r.config, {}};
  for (const std::string& e : r.errors) {
    if (e.compare(0, cli.config_path.size(), cli.config_path) != 0) {
      out.errors.push_back(e);
      continue;
    }
    // Appended, not "F" + e.substr(...) nor replace(): GCC 12 warns falsely (-Wrestrict).
    std::string short_form(1, 'F');
    short_form.append(e, cli.config_path.size());
    out.errors.push_back(std::move(short_form));
  }
  return out;
}

// The single error of loading `yaml`, or a description of why there is not exactly one.
inline std::string error_of(const std::string& yaml, const Environment& env = fake_env()) {
  TextLoad r = load_text(yaml, env);
  if (r.errors.size() == 1) return r.errors[0];
  std::string all = std::to_string(r.errors.size()) + " errors:";
  for (const auto& e : r.errors) all += "\n" + e;
  return all;
}

}  // namespace sidemeter::conf::testing
