// The config back to YAML: --print-config, the hash's canonical text, and the keys that
// need a restart. All from the schema table, in its order.
#include <string_view>

#include "conf/hash.h"
#include "conf/schema.h"

namespace sidemeter::conf {
namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (true) {
    size_t dot = path.find('.', pos);
    parts.push_back(path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos));
    if (dot == std::string::npos) return parts;
    pos = dot + 1;
  }
}

}  // namespace

std::string dump_config(const Config& config, bool redact) {
  std::string out;
  std::vector<std::string> open;  // the sections the previous key was in
  const std::vector<Field>& table = schema();
  for (size_t row = 0; row < table.size(); ++row) {
    const Field& f = table[row];
    if (f.item) continue;  // printed with their list
    std::vector<std::string> parts = split_path(f.path);
    size_t keep = 0;
    while (keep < open.size() && keep + 1 < parts.size() && open[keep] == parts[keep]) ++keep;
    open.resize(keep);
    for (size_t i = keep; i + 1 < parts.size(); ++i) {
      out.append(2 * i, ' ').append(parts[i]).append(":\n");
      open.push_back(parts[i]);
    }
    size_t indent = 2 * (parts.size() - 1);
    out.append(indent, ' ').append(parts.back()).append(":");
    if (f.shape == Shape::kItems) {
      // A block list of mappings, each item's keys in table order, unset ones left out.
      size_t n = f.item_count(config);
      if (n == 0) out.append(" []");
      out.push_back('\n');
      for (size_t i = 0; i < n; ++i) {
        bool first = true;
        for (size_t k = row + 1; k < table.size() && table[k].item; ++k) {
          std::optional<std::string> value = table[k].show_item(config, i);
          if (!value) continue;
          out.append(indent + 2, ' ').append(first ? "- " : "  ");
          out.append(table[k].path.substr(f.path.size() + 1)).append(": ");
          out.append(*value).push_back('\n');
          first = false;
        }
      }
      continue;
    }
    std::string value = redact && f.show_redacted ? f.show_redacted(config) : f.show(config);
    out.append(" ").append(value).push_back('\n');
  }
  return out;
}

std::string print_config(const Config& config) {
  std::string out = "# sidemeter effective configuration";
  if (!config.source_path.empty()) out += " from " + config.source_path;
  if (!config.hash.empty()) out += ", hash " + config.hash;
  out += "\n";
  // --demo is a flag, not a key: said so, or a reader would expect upstream to be used.
  if (config.demo) out += "# --demo: the built-in demo backend replaces upstream\n";
  return out + dump_config(config, true);
}

std::vector<std::string> restart_only_changes(const Config& running, const Config& loaded) {
  std::vector<std::string> changed;
  for (const Field& f : schema()) {
    if (f.restart_only && f.show(running) != f.show(loaded)) changed.push_back(f.path);
  }
  if (running.demo != loaded.demo) changed.push_back("demo");
  return changed;
}

std::string config_hash(const Config& config) {
  return short_sha256(dump_config(config, false) + (config.demo ? "demo: true\n" : ""));
}

Config keep_restart_only_keys(const Config& running, const Config& loaded) {
  Config effective = loaded;
  for (const Field& f : schema()) {
    if (f.restart_only) f.copy(effective, running);
  }
  effective.demo = running.demo;
  effective.hash = config_hash(effective);
  return effective;
}

std::vector<std::string> schema_keys() {
  std::vector<std::string> keys;
  for (const Field& f : schema()) keys.push_back(f.path);
  return keys;
}

}  // namespace sidemeter::conf
