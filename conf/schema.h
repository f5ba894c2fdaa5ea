#pragma once
// The schema as one table. The loader, --print-config, the hash, restart_only_changes and
// schema_keys() all walk it, so they cannot disagree about which keys exist. No yaml-cpp
// here: a field parses the text of one scalar.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"

namespace sidemeter::conf {

// A rule spanning several keys. The loader points at the first of `paths` that came from
// a flag or the file.
struct Problem {
  std::vector<std::string> paths;
  std::string message;
};

// How a key's value is shaped in YAML.
enum class Shape : uint8_t {
  kScalar,  // one value
  kList,    // a sequence of scalars: set is called once per element
  kItems,   // a sequence of mappings ("alerts.rules"); each item's keys are rows of their
            // own, "alerts.rules.name", marked `item`, right after it in the table
  kMap,     // a mapping of free names to scalars ("alerts.labels"): set_entry per entry
};

struct Field {
  std::string path;           // dotted, "upstream.address"; the table is in schema order
  Shape shape = Shape::kScalar;
  bool restart_only = false;  // cannot change on a reload
  // Parses `text` into the config; returns "" or the error message. `null` is YAML's
  // empty value ("key:" or "~"), which only string-like fields accept. For an item key:
  // into the last item of its list (the loader appends one per mapping with add_item).
  std::function<std::string(Config&, const std::string& text, bool null)> set;
  // The value as YAML, secrets included (for the hash). Not for kItems rows and item keys.
  std::function<std::string(const Config&)> show;
  // As show, for --print-config; empty function: not a secret.
  std::function<std::string(const Config&)> show_redacted;
  // kList: called before a list's entries are set, so a list given in the file replaces
  // the default instead of extending it. Empty function: the default is empty anyway.
  std::function<void(Config&)> reset;
  // Copies this key's value from one config to another (set for every restart-only key).
  std::function<void(Config& to, const Config& from)> copy;

  // kMap: one entry, `name: text`.
  std::function<std::string(Config&, const std::string& name, const std::string& text,
                            bool null)>
      set_entry;

  // kItems: appends an item with every key at its default; the number of items.
  std::function<void(Config&)> add_item;
  std::function<size_t(const Config&)> item_count;
  // kItems: rules across the keys of the last item, checked once all its keys parsed
  // without error. Problem::paths are item keys ("alerts.rules.warning"); the loader
  // points at the first one the item has, else at the item.
  std::function<std::vector<Problem>(const Config&)> check_item;

  // Item keys (the rows under a kItems row):
  bool item = false;
  bool required = false;  // every item must have it
  // Item keys this one is read in terms of ("figure" for a threshold's unit). When one of
  // them was wrong or missing-but-required, this key is not parsed: its error would only
  // repeat that one. The loader sets an item's keys in table order, whatever the file's.
  std::vector<std::string> needs;
  // The value of item `i`; nullopt when unset (an optional key, left out of the dump).
  std::function<std::optional<std::string>(const Config&, size_t i)> show_item;
};

const std::vector<Field>& schema();

std::vector<Problem> check_combinations(const Config& config);

// The config in the schema's shape; with redact=false, the canonical text behind the hash.
std::string dump_config(const Config& config, bool redact);
// Config::hash: over the unredacted dump, so any change (even a rotated token) shows.
std::string config_hash(const Config& config);

// A YAML double-quoted scalar.
std::string yaml_quote(std::string_view text);

}  // namespace sidemeter::conf
