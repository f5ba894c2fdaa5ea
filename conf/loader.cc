// load(): read → interpolate → parse → walk the schema → token file → flags → rules that
// span keys → hash. The only file that sees yaml-cpp. It never stops at the first error:
// an operator fixing a file wants the whole list in one go.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include "conf/did_you_mean.h"
#include "conf/hash.h"
#include "conf/interpolate.h"
#include "conf/schema.h"

namespace sidemeter::conf {
namespace {

// Returns 0 or the errno of the failure.
int read_file(const std::string& path, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  char buf[16 * 1024];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return err;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return 0;
}

std::string position(const std::string& file, int line, int column) {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
}

std::string kind_of(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "the scalar '" + node.Scalar() + "'";
    default: return "nothing";
  }
}

// Keys that existed before the issue 9 schema: a hint beats "did you mean".
const std::map<std::string, std::string>& moved_keys() {
  static const std::map<std::string, std::string> moved = {
      {"route_cap", "it is now routes.max"},
      {"upstream_pool", "its keys moved into upstream:"},
  };
  return moved;
}

class Loader {
 public:
  // Errors on `quiet_lines` (1-based) are not reported: they follow from an
  // interpolation error reported there already.
  Loader(std::string file, std::set<int> quiet_lines, Config& config,
         std::vector<std::string>& errors)
      : file_(std::move(file)), quiet_lines_(std::move(quiet_lines)), config_(config),
        errors_(errors) {}

  void walk(const YAML::Node& map, const std::string& prefix) {
    std::string section = prefix.empty() ? "top level" : prefix;
    if (map.IsNull()) return;  // "stats:" with every key commented out
    if (!map.IsMap()) {
      std::string hint;
      if (map.IsScalar() && is_leaf(join(prefix, "address")))
        hint = " (did you mean '" + prefix + ": {address: " + map.Scalar() + "}'?)";
      error(map.Mark(), section + " must be a mapping, got " + kind_of(map) + hint);
      return;
    }
    std::set<std::string> seen;
    for (const auto& kv : map) {
      const YAML::Node& key = kv.first;
      if (!key.IsScalar()) {
        error(key.Mark(), "keys in " + section + " must be names, got " + kind_of(key));
        continue;
      }
      const std::string& name = key.Scalar();
      if (!seen.insert(name).second) {
        error(key.Mark(), "duplicate key '" + name + "' in " + section);
        continue;
      }
      std::string path = join(prefix, name);
      if (const Field* f = field(path)) {
        set(*f, key, kv.second);
      } else if (is_section(path)) {
        walk(kv.second, path);
      } else {
        unknown(key, name, prefix, section);
      }
    }
  }

  void add_item_positions(std::map<std::string, std::string>& where) const {
    for (const auto& [path, mark] : marks_)
      if (path.find('[') != std::string::npos)
        where.emplace(path, position(file_, mark.line + 1, mark.column + 1));
  }

  // The file's position of the key at `path`, if it was there.
  std::optional<std::string> where(const std::string& path) const {
    auto it = marks_.find(path);
    if (it == marks_.end()) return std::nullopt;
    return position(file_, it->second.line + 1, it->second.column + 1);
  }

  void error(const YAML::Mark& mark, const std::string& message) {
    if (quiet_lines_.count(mark.line + 1) != 0) return;
    errors_.push_back(position(file_, mark.line + 1, mark.column + 1) + message);
  }

  // An error about the key at `path` (an item key as "tls.certificates[0].certificate_file"),
  // at its position when it came from the file.
  void error_at(const std::string& path, const std::string& message) {
    auto it = marks_.find(path);
    if (it != marks_.end()) {
      error(it->second, message);
    } else {
      errors_.push_back(file_ + ": " + message);
    }
  }

 private:
  static std::string join(const std::string& prefix, const std::string& name) {
    return prefix.empty() ? name : prefix + "." + name;
  }
  // Item keys ("alerts.rules.name") are not sections' keys: only set_item sees them.
  static bool is_section(const std::string& path) {
    for (const Field& f : schema()) {
      if (f.item) continue;
      if (f.path.size() > path.size() && f.path.compare(0, path.size(), path) == 0 &&
          f.path[path.size()] == '.')
        return true;
    }
    return false;
  }
  static const Field* field(const std::string& path) {
    for (const Field& f : schema()) {
      if (!f.item && f.path == path) return &f;
    }
    return nullptr;
  }
  static bool is_leaf(const std::string& path) { return field(path) != nullptr; }

  void unknown(const YAML::Node& key, const std::string& name, const std::string& prefix,
               const std::string& section) {
    std::string message = "unknown key '" + name + "' in " + section;
    auto moved = moved_keys().find(join(prefix, name));
    if (moved != moved_keys().end()) {
      message += " (" + moved->second + ")";
    } else if (auto best = did_you_mean(name, children(prefix))) {
      message += " (did you mean '" + *best + "'?)";
    }
    error(key.Mark(), message);
  }

  static std::vector<std::string> children(const std::string& prefix) {
    std::vector<std::string> names;
    for (const Field& f : schema()) {
      if (f.item) continue;
      if (!prefix.empty() && f.path.compare(0, prefix.size() + 1, prefix + ".") != 0) continue;
      std::string rest = prefix.empty() ? f.path : f.path.substr(prefix.size() + 1);
      std::string name = rest.substr(0, rest.find('.'));
      if (names.empty() || names.back() != name) names.push_back(name);
    }
    return names;
  }

  void set(const Field& f, const YAML::Node& key, const YAML::Node& value) {
    // A null value's mark is that of whatever follows it, often on the next line.
    YAML::Mark mark = value.IsNull() ? key.Mark() : value.Mark();
    marks_[f.path] = mark;
    switch (f.shape) {
      case Shape::kScalar: set_scalar(f, f.path, mark, value); return;
      case Shape::kList: set_list(f, mark, value); return;
      case Shape::kItems: set_items(f, mark, value); return;
      case Shape::kMap: set_map(f, mark, value); return;
    }
  }

  // Returns whether `set` accepted it.
  bool set_scalar(const Field& f, const std::string& path, const YAML::Mark& mark,
                  const YAML::Node& value) {
    if (value.IsMap() || value.IsSequence()) {
      error(mark, path + " must be a single value, got " + kind_of(value));
      return false;
    }
    std::string message = f.set(config_, value.IsNull() ? "" : value.Scalar(), value.IsNull());
    report(mark, message);
    return message.empty();
  }

  void set_list(const Field& f, const YAML::Mark& mark, const YAML::Node& value) {
    if (value.IsNull()) return;
    if (!value.IsSequence()) {
      error(mark, f.path + " must be a list, got " + kind_of(value));
      return;
    }
    if (f.reset) f.reset(config_);
    for (const auto& item : value) {
      if (!item.IsScalar() && !item.IsNull()) {
        error(item.Mark(), f.path + " entries must be strings, got " + kind_of(item));
        continue;
      }
      report(item.Mark().is_null() ? mark : item.Mark(),
             f.set(config_, item.IsNull() ? "" : item.Scalar(), item.IsNull()));
    }
  }

  void set_map(const Field& f, const YAML::Mark& mark, const YAML::Node& value) {
    if (value.IsNull()) return;
    if (!value.IsMap()) {
      error(mark, f.path + " must be a mapping, got " + kind_of(value));
      return;
    }
    std::set<std::string> seen;
    for (const auto& kv : value) {
      const YAML::Node& key = kv.first;
      if (!key.IsScalar()) {
        error(key.Mark(), "keys in " + f.path + " must be names, got " + kind_of(key));
        continue;
      }
      if (!seen.insert(key.Scalar()).second) {
        error(key.Mark(), "duplicate key '" + key.Scalar() + "' in " + f.path);
        continue;
      }
      const YAML::Node& v = kv.second;
      if (v.IsMap() || v.IsSequence()) {
        error(v.Mark(), f.path + "." + key.Scalar() + " must be a single value, got " +
                            kind_of(v));
        continue;
      }
      report(key.Mark(), f.set_entry(config_, key.Scalar(), v.IsNull() ? "" : v.Scalar(),
                                     v.IsNull()));
    }
  }

  // The item keys of a kItems row, in table order.
  static std::vector<const Field*> item_keys(const Field& list) {
    std::vector<const Field*> keys;
    for (const Field& f : schema()) {
      if (f.item && f.path.size() > list.path.size() &&
          f.path.compare(0, list.path.size() + 1, list.path + ".") == 0)
        keys.push_back(&f);
    }
    return keys;
  }

  void set_items(const Field& f, const YAML::Mark& mark, const YAML::Node& value) {
    if (value.IsNull()) return;
    if (!value.IsSequence()) {
      error(mark, f.path + " must be a list, got " + kind_of(value));
      return;
    }
    for (const auto& item : value) {
      if (!item.IsMap()) {
        error(item.Mark().is_null() ? mark : item.Mark(),
              f.path + " entries must be mappings, got " + kind_of(item));
        continue;
      }
      set_item(f, item);
    }
  }

  // One mapping of a kItems list: its keys are set in table order (a threshold's unit
  // comes from the figure, wherever the file puts it); rules across them are checked
  // only once every key parsed, so one mistake is reported once.
  void set_item(const Field& f, const YAML::Node& item) {
    f.add_item(config_);
    const std::string indexed = f.path + "[" + std::to_string(f.item_count(config_) - 1) + "].";
    std::vector<const Field*> keys = item_keys(f);
    std::vector<std::string> names;
    for (const Field* k : keys) names.push_back(k->path.substr(f.path.size() + 1));
    std::map<std::string, std::pair<YAML::Node, YAML::Node>> present;
    std::set<std::string> meant;  // what misspelt keys were taken for
    bool failed = false;
    for (const auto& kv : item) {
      const YAML::Node& key = kv.first;
      if (!key.IsScalar()) {
        error(key.Mark(), "keys in entries of " + f.path + " must be names, got " + kind_of(key));
        failed = true;
        continue;
      }
      const std::string& name = key.Scalar();
      if (present.count(name) != 0) {
        error(key.Mark(), "duplicate key '" + name + "' in an entry of " + f.path);
        failed = true;
        continue;
      }
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        std::string message = "unknown key '" + name + "' in an entry of " + f.path;
        if (auto best = did_you_mean(name, names)) {
          message += " (did you mean '" + *best + "'?)";
          meant.insert(*best);
        }
        error(key.Mark(), message);
        failed = true;
        continue;
      }
      present.emplace(name, std::make_pair(key, kv.second));
    }
    std::set<std::string> wrong;  // keys in error, or required and missing
    std::map<std::string, YAML::Mark> marks;
    for (size_t i = 0; i < keys.size(); ++i) {
      const Field& k = *keys[i];
      const std::string& name = names[i];
      auto it = present.find(name);
      if (it == present.end()) {
        if (k.required) {
          // A misspelling of it was reported already, with this name as the suggestion.
          if (meant.count(name) == 0)
            error(item.Mark(), "an entry of " + f.path + " is missing '" + name + "'");
          wrong.insert(name);
          failed = true;
        }
        continue;
      }
      const auto& [key, value] = it->second;
      YAML::Mark mark = value.IsNull() ? key.Mark() : value.Mark();
      marks[k.path] = mark;
      marks_[indexed + name] = mark;
      bool blocked = false;
      for (const std::string& need : k.needs) blocked = blocked || wrong.count(need) != 0;
      if (blocked || !set_scalar(k, k.path, mark, value)) {
        wrong.insert(name);
        failed = true;
      }
    }
    if (!f.check_item) return;
    for (const Problem& p : f.check_item(config_)) {
      // A check across keys whose input was already reported wrong would only repeat
      // that error in other words (or judge a default). Checks that name their keys run
      // whatever else failed in the item, so every independent mistake shows at once.
      bool depends_on_wrong = failed && p.paths.empty();
      for (const std::string& path : p.paths) {
        const std::string name = path.substr(std::min(path.size(), f.path.size() + 1));
        depends_on_wrong = depends_on_wrong || wrong.count(name) != 0;
      }
      // A rule's figure or an SLO's kind decides what every other key means.
      depends_on_wrong = depends_on_wrong || wrong.count("figure") != 0 || wrong.count("kind") != 0;
      if (depends_on_wrong) continue;
      YAML::Mark at = item.Mark();
      for (const std::string& path : p.paths) {
        if (auto m = marks.find(path); m != marks.end()) {
          at = m->second;
          break;
        }
      }
      error(at, p.message);
    }
  }

  void report(const YAML::Mark& mark, const std::string& message) {
    if (!message.empty()) error(mark, message);
  }

  std::string file_;
  std::set<int> quiet_lines_;
  Config& config_;
  std::vector<std::string>& errors_;
  std::map<std::string, YAML::Mark> marks_;
};

std::string strip_trailing_space(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' ||
                        s.back() == '\t'))
    s.pop_back();
  return s;
}

// A file named in the config, relative to the config file's directory, so a config and
// its files can move together.
std::string relative_to(const std::string& config_path, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  size_t slash = config_path.rfind('/');
  if (slash == std::string::npos) return path;
  return config_path.substr(0, slash + 1) + path;
}

// The token from stats.token_file. Relative to the config file's directory, so a config
// and its secret can move together; the resolved path is kept for --print-config.
void read_token_file(const std::string& config_path, const std::string& where, Config& c,
                     std::vector<std::string>& errors) {
  std::string path = c.stats.token_file;
  if (path.empty()) return;
  if (!c.stats.token.empty()) {
    errors.push_back(where + "stats.token and stats.token_file are mutually exclusive");
    return;
  }
  path = relative_to(config_path, path);
  c.stats.token_file = path;
  std::string text;
  if (int err = read_file(path, text); err != 0) {
    errors.push_back(where + "stats.token_file: cannot read '" + path + "': " +
                     std::strerror(err));
    return;
  }
  text = strip_trailing_space(std::move(text));
  if (text.empty()) {
    errors.push_back(where + "stats.token_file: '" + path + "' is empty");
    return;
  }
  // Through the token field's own check, so both sources follow one rule.
  for (const Field& f : schema()) {
    if (f.path != "stats.token") continue;
    std::string err = f.set(c, text, false);
    if (!err.empty()) errors.push_back(where + "stats.token_file: the token " + err.substr(12));
  }
}

// 0 when `path` opens for reading and is not a directory, else the errno.
int readable(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  struct stat st {};
  int err = ::fstat(fd, &st) != 0 ? errno : (S_ISDIR(st.st_mode) ? EISDIR : 0);
  ::close(fd);
  return err;
}

// The TLS keys' files: relative to the config file's directory, and readable now, so a
// missing key or certificate is found by --check-config and by a reload, not by the first
// handshake. (The transport parses them; here only that they can be read.)
void check_tls_files(const std::string& config_path, Loader& loader, Config& c) {
  std::vector<std::pair<std::string, std::string*>> files;
  for (size_t i = 0; i < c.tls.certificates.size(); ++i) {
    const std::string item = "tls.certificates[" + std::to_string(i) + "].";
    files.emplace_back(item + "certificate_file", &c.tls.certificates[i].certificate_file);
    files.emplace_back(item + "private_key_file", &c.tls.certificates[i].private_key_file);
  }
  files.emplace_back("tls.client_ca_file", &c.tls.client_ca_file);
  files.emplace_back("upstream.tls.ca_file", &c.upstream.tls.ca_file);
  files.emplace_back("upstream.tls.certificate_file",
                     &c.upstream.tls.client_certificate.certificate_file);
  files.emplace_back("upstream.tls.private_key_file",
                     &c.upstream.tls.client_certificate.private_key_file);
  for (auto& [key, value] : files) {
    if (value->empty()) continue;
    *value = relative_to(config_path, *value);
    if (int err = readable(*value); err != 0) {
      std::string message = key;
      message.append(": ").append(*value).append(": ").append(std::strerror(err));
      loader.error_at(key, message);
    }
  }
}

void load_file(const std::string& path, const Environment& env, Config& config,
               std::vector<std::string>& errors, std::map<std::string, std::string>& where) {
  std::string raw;
  if (int err = read_file(path, raw); err != 0) {
    errors.push_back(path + ": cannot read file: " + std::strerror(err));
    return;
  }
  Interpolated text = interpolate(raw, env);
  std::set<int> quiet_lines;
  for (const TextError& e : text.errors) {
    errors.push_back(position(path, e.line, e.column) + e.message);
    quiet_lines.insert(e.line);
  }
  YAML::Node root;
  try {
    root = YAML::Load(text.text);
  } catch (const YAML::Exception& e) {
    if (quiet_lines.count(e.mark.line + 1) == 0)
      errors.push_back(position(path, e.mark.line + 1, e.mark.column + 1) + e.msg);
    return;
  }
  Loader loader(path, std::move(quiet_lines), config, errors);
  loader.walk(root, "");
  read_token_file(path, loader.where("stats.token_file").value_or(path + ": "), config, errors);
  check_tls_files(path, loader, config);
  if (config.access_log.path != "stderr")
    config.access_log.path = relative_to(path, config.access_log.path);
  for (const Field& f : schema()) {
    if (auto w = loader.where(f.path)) where[f.path] = *w;
  }
  // Item keys too ("tls.certificates[1].private_key_file"), so problems found after the
  // load (TLS files OpenSSL refuses) can still point at their line.
  loader.add_item_positions(where);
}

}  // namespace

LoadResult load(const CommandLine& cli, const Environment& env) {
  auto config = std::make_shared<Config>();
  LoadResult result;
  // Where each key was set, as an error prefix: "FILE:LINE:COL: " or "--flag: ".
  std::map<std::string, std::string> where;
  if (!cli.config_path.empty()) load_file(cli.config_path, env, *config, result.errors, where);

  if (cli.listen) {
    config->listen = *cli.listen;
    where["listen"] = "--listen: ";
  }
  if (cli.upstream) {
    config->upstream.address = *cli.upstream;
    where["upstream.address"] = "--upstream: ";
  }
  if (cli.stats) {
    config->stats.address = *cli.stats;
    where["stats.address"] = "--stats: ";
  }
  if (cli.workers) {
    config->workers = *cli.workers;
    where["workers"] = "--workers: ";
  }
  config->demo = cli.demo;

  for (const Problem& p : check_combinations(*config)) {
    std::string prefix = cli.config_path.empty() ? "" : cli.config_path + ": ";
    for (const std::string& path : p.paths) {
      if (auto it = where.find(path); it != where.end()) {
        prefix = it->second;
        break;
      }
    }
    result.errors.push_back(prefix + p.message);
  }
  if (!result.errors.empty()) return result;

  config->source_path = cli.config_path;
  config->hash = config_hash(*config);
  result.config = std::move(config);
  result.where = std::move(where);
  return result;
}

std::string place_problem(const std::map<std::string, std::string>& where,
                          const std::string& source_path, const std::string& problem) {
  // "tls.certificates[1].private_key_file: /x: ..." → the key before the first ": ",
  // then its parents, until one was set somewhere we know.
  std::string key = problem.substr(0, problem.find(": "));
  while (!key.empty()) {
    if (auto it = where.find(key); it != where.end()) return it->second + problem;
    const size_t dot = key.find_last_of(".[");
    if (dot == std::string::npos) break;
    key.resize(dot);
  }
  return (source_path.empty() ? std::string() : source_path + ": ") + problem;
}

}  // namespace sidemeter::conf
