// libFuzzer target: the config loader, conf::load, on any file content (no option bytes:
// the whole input is the file).
//
// Invariants:
//  - it never crashes and never throws: every problem is an error string;
//  - a config comes back exactly when there is no error;
//  - every error about the file starts with FILE:LINE:COL, LINE and COL within it (an
//    operator is pointed at the place to fix);
//  - a config that loads prints (the schema's canonical dump, secrets included) to a file
//    that loads without error into the same configuration (the same hash), so
//    --print-config always shows something the loader takes back.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "conf/config.h"
#include "conf/schema.h"
#include "tests/fuzz/fuzz_support.h"

namespace sidemeter::fuzz {
namespace {

// One directory per fuzzing process (libFuzzer's -jobs/-fork run several), removed at exit
// (the name is never freed: the exit handler runs after static destructors would).
const std::string& work_dir() {
  static const std::string& dir = *new std::string([] {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                        "/sidemeter-config-fuzz-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) std::abort();
    std::atexit([] {
      ::unlink((work_dir() + "/sidemeter.yaml").c_str());
      ::unlink((work_dir() + "/printed.yaml").c_str());
      ::rmdir(work_dir().c_str());
    });
    return templ;
  }());
  return dir;
}

std::string write_file(const std::string& name, std::string_view text) {
  const std::string path = work_dir() + "/" + name;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) std::abort();
  size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n <= 0) std::abort();
    off += static_cast<size_t>(n);
  }
  ::close(fd);
  return path;
}

conf::Environment environment() {
  static const std::map<std::string, std::string, std::less<>> vars = {
      {"PORT", "8080"}, {"HOST", "127.0.0.1"}, {"TOKEN", "fuzz-token-0123456789"}, {"EMPTY", ""}};
  return [](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// "PATH:LINE:COL: message" with 1 <= LINE <= max_line and COL >= 1.
bool positioned(const std::string& e, const std::string& path, size_t max_line) {
  if (e.compare(0, path.size(), path) != 0 || e.size() <= path.size() || e[path.size()] != ':')
    return false;
  size_t p = path.size() + 1;
  auto number = [&](uint64_t& v) {
    const size_t start = p;
    v = 0;
    while (p < e.size() && e[p] >= '0' && e[p] <= '9' && p - start < 12) v = v * 10 + (e[p++] - '0');
    return p > start;
  };
  uint64_t line = 0;
  uint64_t col = 0;
  if (!number(line) || p >= e.size() || e[p++] != ':' || !number(col)) return false;
  return e.compare(p, 2, ": ") == 0 && line >= 1 && line <= max_line && col >= 1;
}

std::string all(const std::vector<std::string>& errors) {
  std::string s;
  for (const std::string& e : errors) s += "\n    " + escaped(e, 512);
  return s;
}

}  // namespace
}  // namespace sidemeter::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sidemeter;
  using namespace sidemeter::fuzz;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  conf::CommandLine cli;
  cli.config_path = write_file("sidemeter.yaml", text);
  conf::LoadResult r = conf::load(cli, environment());

  FUZZ_CHECK((r.config != nullptr) == r.errors.empty(),
             "config and errors disagree:" + all(r.errors));
  size_t lines = 1;
  for (char c : text) lines += c == '\n' ? 1 : 0;
  for (const std::string& e : r.errors) {
    FUZZ_CHECK(positioned(e, cli.config_path, lines + 1),
               "an error without FILE:LINE:COL inside the file (" + std::to_string(lines) +
                   " lines): " + escaped(e, 512) + "\n  input: " + escaped(text, 1024));
  }
  if (r.config == nullptr) return 0;

  const std::string printed = conf::dump_config(*r.config, false);
  conf::CommandLine again;
  again.config_path = write_file("printed.yaml", printed);
  conf::LoadResult back = conf::load(again, environment());
  FUZZ_CHECK(back.errors.empty(), "the printed config does not load:" + all(back.errors) +
                                      "\n  printed:\n" + printed + "\n  input: " +
                                      escaped(text, 1024));
  FUZZ_CHECK(back.config->hash == r.config->hash,
             "the printed config loads differently:\n" + printed +
                 "\n  reprinted:\n" + conf::dump_config(*back.config, false));
  return 0;
}
