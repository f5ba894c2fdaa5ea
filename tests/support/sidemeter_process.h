#pragma once
// Runs the real sidemeter binary (path from $SIDEMETER_BIN) as a child process and
// watches its JSON log lines on stderr. Readiness is the "listening" log line, never a
// sleep.
#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/support/socket.h"

namespace sidemeter::testing {

// The binary under test runs under a sanitizer whose allocator makes RSS figures mean
// nothing (ASan's quarantine, TSan's shadow memory): this harness was built with one, or
// $SIDEMETER_BIN_SANITIZER names one (deploy/test.sh sets it when it points the release
// build's suites at a sanitizer build's binary).
inline bool sidemeter_bin_sanitized() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return true;
#else
  const char* s = std::getenv("SIDEMETER_BIN_SANITIZER");
  return s != nullptr && *s != '\0';
#endif
}

class SidemeterProcess {
 public:
  // Starts the binary. If `yaml` is non-empty it is written to a temp file passed with
  // --config before `args`. `fd_limit` > 0 sets the child's RLIMIT_NOFILE, soft and hard,
  // before exec (a low `ulimit -n` the proxy cannot raise). Check started() / error().
  explicit SidemeterProcess(std::vector<std::string> args, std::string yaml = "",
                            uint64_t fd_limit = 0);
  ~SidemeterProcess();
  SidemeterProcess(const SidemeterProcess&) = delete;
  SidemeterProcess& operator=(const SidemeterProcess&) = delete;

  bool started() const { return pid_ > 0; }
  const std::string& error() const { return error_; }

  // Waits for the "listening" line; false if the process exits or the deadline passes.
  bool wait_listening(Deadline deadline = deadline_in(std::chrono::seconds(20)));
  uint16_t listen_port() const { return listen_port_; }
  uint16_t stats_port() const { return stats_port_; }

  pid_t pid() const { return pid_; }
  // From /proc/<pid>/status; 0 if unavailable.
  uint64_t rss_kb() const;
  uint64_t hwm_kb() const;
  // Voluntary context switches of the main thread, which runs the control loop: each is a
  // wakeup of its loop (/proc/<pid>/status shows the thread-group leader's); 0 if unavailable.
  uint64_t main_thread_wakeups() const;
  // User + system CPU time from /proc/<pid>/stat; negative if unavailable.
  double cpu_seconds() const;
  // Entries in /proc/<pid>/fd; -1 if unavailable.
  int open_fds() const;
  // For failure messages when the process seems stuck: each thread's name, state and
  // kernel wait channel from /proc, then every thread's stack if gdb is installed.
  std::string thread_report() const;

  bool send_signal(int sig);
  // Exit code (or 128+signal); nullopt on timeout.
  std::optional<int> wait_exit(Deadline deadline = deadline_in(std::chrono::seconds(20)));
  bool running();

  std::vector<std::string> log_lines() const;
  std::string log_text() const;  // for failure messages
  std::string stdout_text() const;
  // Waits for a stderr line containing `needle`; returns it.
  std::optional<std::string> wait_for_log(std::string_view needle, Deadline deadline);
  // Log lines whose "event" field equals `event`.
  std::vector<std::string> events(std::string_view event) const;
  // Waits until at least `n` stderr lines contain `needle` (or the streams close or the
  // deadline passes); returns how many do. For events that repeat (one per reload).
  size_t wait_for_count(std::string_view needle, size_t n, Deadline deadline);

  // The temp config file written from `yaml` ("" if none). rewrite_config replaces its
  // contents atomically (temp file in the same directory, then rename), so a reload
  // never reads a half-written file.
  const std::string& config_path() const { return config_path_; }
  bool rewrite_config(const std::string& yaml);

 private:
  void reader_loop(int out_fd, int err_fd);
  std::optional<std::string> find_line_locked(std::string_view needle) const;

  pid_t pid_ = -1;
  int pidfd_ = -1;
  std::optional<int> exit_code_;
  std::string error_;
  std::string config_path_;
  uint16_t listen_port_ = 0;
  uint16_t stats_port_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  std::string stdout_;
  bool streams_closed_ = false;
  std::thread reader_;
};

// Runs the binary to completion (e.g. --help); returns exit code and stdout.
struct RunResult {
  std::optional<int> exit_code;
  std::string out;
  std::string err;
};
RunResult run_sidemeter(std::vector<std::string> args,
                        Deadline deadline = deadline_in(std::chrono::seconds(10)));

// Minimal config: loopback listen/stats on port 0, the given upstream, one worker (so
// pool and connection-count assertions are deterministic), plus `extra` YAML lines. An
// `upstream:` section in `extra` gets the address added to it.
std::string make_config(std::string_view upstream, std::string_view extra = "", int workers = 1);

}  // namespace sidemeter::testing
