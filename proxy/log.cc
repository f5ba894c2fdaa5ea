#include "proxy/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>

#include "proxy/text/json_writer.h"
#include "proxy/text/rfc3339.h"

namespace sidemeter::log {
namespace {
// The JSON writers the stats endpoints use too: they keep invalid UTF-8 (say, from an
// upstream's error text) and NaN/Inf from making a log line invalid JSON.
using text::append_json_string;
std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};

const char* level_name(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

}  // namespace

void set_min_level(Level level) { g_min_level.store(static_cast<int>(level)); }

void write(Level level, std::string_view event, std::initializer_list<Field> fields) {
  if (static_cast<int>(level) < g_min_level.load(std::memory_order_relaxed)) return;
  std::string line;
  line.reserve(256);
  line += "{\"ts\":\"";
  text::append_rfc3339_ms(line, text::unix_now_ms());
  line += "\",\"level\":\"";
  line += level_name(level);
  line += "\",\"event\":";
  append_json_string(line, event);
  for (const auto& f : fields) {
    line.push_back(',');
    append_json_string(line, f.key);
    line.push_back(':');
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string_view>) {
            append_json_string(line, v);
          } else if constexpr (std::is_same_v<T, bool>) {
            line += v ? "true" : "false";
          } else if constexpr (std::is_same_v<T, double>) {
            text::append_json_double(line, v);
          } else if constexpr (std::is_same_v<T, int64_t>) {
            text::append_int(line, v);
          } else {
            static_assert(std::is_same_v<T, uint64_t>);
            text::append_uint(line, v);
          }
        },
        f.value);
  }
  line += "}\n";
  // One write per line: atomic for pipes up to PIPE_BUF, and never torn by other threads'
  // lines on a terminal or file in practice.
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) break;
    p += n;
    left -= size_t(n);
  }
}

}  // namespace sidemeter::log
