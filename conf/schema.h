#pragma once
// The schema as one table. The loader, --print-config, the hash, restart_only_changes and
// schema_keys() all walk it, so they cannot disagree about which keys exist. No yaml-cpp
// here: a field parses the text of one scalar.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"

namespace sidemeter::conf {

struct Field {
  std::string path;           // dotted, "upstream.address"; the table is in schema order
  bool list = false;          // a sequence of scalars (set is called once per element)
  bool restart_only = false;  // cannot change on a reload
  // Parses `text` into the config; returns "" or the error message. `null` is YAML's
  // empty value ("key:" or "~"), which only string-like fields accept.
  std::function<std::string(Config&, const std::string& text, bool null)> set;
  // The value as YAML, secrets included (for the hash).
  std::function<std::string(const Config&)> show;
  // As show, for --print-config; empty function: not a secret.
  std::function<std::string(const Config&)> show_redacted;
  // Copies this key's value from one config to another (set for every restart-only key).
  std::function<void(Config& to, const Config& from)> copy;
};

const std::vector<Field>& schema();

// A rule spanning several keys. The loader points at the first of `paths` that came from
// a flag or the file.
struct Problem {
  std::vector<std::string> paths;
  std::string message;
};
std::vector<Problem> check_combinations(const Config& config);

// The config in the schema's shape; with redact=false, the canonical text behind the hash.
std::string dump_config(const Config& config, bool redact);
// Config::hash: over the unredacted dump, so any change (even a rotated token) shows.
std::string config_hash(const Config& config);

// A YAML double-quoted scalar.
std::string yaml_quote(std::string_view text);

}  // namespace sidemeter::conf
