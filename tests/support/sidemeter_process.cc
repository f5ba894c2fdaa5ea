#include "tests/support/sidemeter_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "tests/support/json_line.h"

namespace sidemeter::testing {
namespace {

std::string binary_path() {
  const char* p = std::getenv("SIDEMETER_BIN");
  return p ? p : "";
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// A numeric field of /proc/<pid>/status (kB for the Vm* ones); 0 if unavailable.
uint64_t proc_status_value(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  size_t n = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') {
      return std::strtoull(line.c_str() + n + 1, nullptr, 10);
    }
  }
  return 0;
}

}  // namespace

SidemeterProcess::SidemeterProcess(std::vector<std::string> args, std::string yaml,
                                   uint64_t fd_limit) {
  std::string bin = binary_path();
  if (bin.empty()) {
    error_ = "SIDEMETER_BIN is not set";
    return;
  }
  if (!yaml.empty()) {
    char tmpl[] = "/tmp/sidemeter-test-XXXXXX.yaml";
    int fd = ::mkstemps(tmpl, 5);
    if (fd < 0) {
      error_ = "mkstemps failed";
      return;
    }
    bool ok = ::write(fd, yaml.data(), yaml.size()) == static_cast<ssize_t>(yaml.size());
    ::close(fd);
    config_path_ = tmpl;
    if (!ok) {
      error_ = "writing config failed";
      return;
    }
    args.insert(args.begin(), {"--config", config_path_});
  }
  // Everything the child needs is prepared before fork: after fork in a threaded
  // process only async-signal-safe calls are allowed.
  std::vector<char*> argv;
  argv.push_back(bin.data());
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    error_ = "pipe failed";
    return;
  }
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    // A crashed test must not leave a proxy behind.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    if (fd_limit > 0) {
      const rlimit lim{fd_limit, fd_limit};
      if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) ::_exit(126);
    }
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (pid < 0) {
    error_ = "fork failed";
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return;
  }
  pid_ = pid;
  pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  reader_ = std::thread([this, o = out_pipe[0], e = err_pipe[0]] { reader_loop(o, e); });
}

SidemeterProcess::~SidemeterProcess() {
  if (pid_ > 0 && !exit_code_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (reader_.joinable()) reader_.join();
  if (pidfd_ >= 0) ::close(pidfd_);
  if (!config_path_.empty()) ::unlink(config_path_.c_str());
}

void SidemeterProcess::reader_loop(int out_fd, int err_fd) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string partial[2];
  int open_count = 2;
  char buf[16384];
  while (open_count > 0) {
    int rc = ::poll(fds, 2, 1000);
    if (rc < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      if (i == 0) {
        stdout_.append(buf, static_cast<size_t>(n));
        continue;
      }
      partial[1].append(buf, static_cast<size_t>(n));
      size_t nl;
      while ((nl = partial[1].find('\n')) != std::string::npos) {
        lines_.push_back(partial[1].substr(0, nl));
        partial[1].erase(0, nl + 1);
      }
    }
    cv_.notify_all();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!partial[1].empty()) lines_.push_back(partial[1]);
    streams_closed_ = true;
  }
  cv_.notify_all();
}

std::optional<std::string> SidemeterProcess::find_line_locked(std::string_view needle) const {
  for (const std::string& l : lines_) {
    if (l.find(needle) != std::string::npos) return l;
  }
  return std::nullopt;
}

bool SidemeterProcess::wait_listening(Deadline deadline) {
  if (!started()) return false;
  std::unique_lock<std::mutex> lock(mu_);
  std::optional<std::string> line;
  cv_.wait_until(lock, deadline, [&] {
    line = find_line_locked("\"event\":\"listening\"");
    return line.has_value() || streams_closed_;
  });
  if (!line) return false;
  auto lp = json_int(*line, "listen_port");
  auto sp = json_int(*line, "stats_port");
  if (!lp || !sp || *lp <= 0 || *lp > 65535 || *sp <= 0 || *sp > 65535) return false;
  listen_port_ = static_cast<uint16_t>(*lp);
  stats_port_ = static_cast<uint16_t>(*sp);
  return true;
}

std::optional<std::string> SidemeterProcess::wait_for_log(std::string_view needle,
                                                          Deadline deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  std::optional<std::string> line;
  cv_.wait_until(lock, deadline, [&] {
    line = find_line_locked(needle);
    return line.has_value() || streams_closed_;
  });
  if (!line) line = find_line_locked(needle);
  return line;
}

size_t SidemeterProcess::wait_for_count(std::string_view needle, size_t n, Deadline deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  size_t count = 0;
  cv_.wait_until(lock, deadline, [&] {
    count = 0;
    for (const std::string& l : lines_) {
      if (l.find(needle) != std::string::npos) ++count;
    }
    return count >= n || streams_closed_;
  });
  return count;
}

bool SidemeterProcess::rewrite_config(const std::string& yaml) {
  if (config_path_.empty()) return false;
  std::string tmp = config_path_ + ".XXXXXX";
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) return false;
  bool ok = ::write(fd, yaml.data(), yaml.size()) == static_cast<ssize_t>(yaml.size());
  ok = ::close(fd) == 0 && ok;
  if (ok) ok = ::rename(tmp.c_str(), config_path_.c_str()) == 0;
  if (!ok) ::unlink(tmp.c_str());
  return ok;
}

std::vector<std::string> SidemeterProcess::events(std::string_view event) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const std::string& l : lines_) {
    if (json_has(l, "event", event)) out.push_back(l);
  }
  return out;
}

uint64_t SidemeterProcess::rss_kb() const { return proc_status_value(pid_, "VmRSS"); }
uint64_t SidemeterProcess::hwm_kb() const { return proc_status_value(pid_, "VmHWM"); }
uint64_t SidemeterProcess::main_thread_wakeups() const {
  return proc_status_value(pid_, "voluntary_ctxt_switches");
}

double SidemeterProcess::cpu_seconds() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return -1;
  // Fields after the command name (which may hold spaces) start after the last ')':
  // state is field 3, utime 14 and stime 15, in clock ticks.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::strtod(field.c_str(), nullptr);
  }
  const long hz = ::sysconf(_SC_CLK_TCK);
  return hz > 0 ? ticks / double(hz) : -1;
}

int SidemeterProcess::open_fds() const {
  DIR* d = ::opendir(("/proc/" + std::to_string(pid_) + "/fd").c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
  ::closedir(d);
  return n;
}

namespace {
std::string read_small_file(const std::string& path) {
  std::ifstream in(path);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}
}  // namespace

std::string SidemeterProcess::thread_report() const {
  if (pid_ <= 0 || exit_code_) return "(process not running)\n";
  const std::string task_dir = "/proc/" + std::to_string(pid_) + "/task";
  std::string out = "threads of pid " + std::to_string(pid_) + ":\n";
  if (DIR* d = ::opendir(task_dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      const std::string t = task_dir + "/" + e->d_name;
      const std::string stat = read_small_file(t + "/stat");
      const size_t close = stat.rfind(')');
      const char state = close != std::string::npos && close + 2 < stat.size() ? stat[close + 2] : '?';
      out += "  " + std::string(e->d_name) + " " + read_small_file(t + "/comm") + " state=" + state +
             " wchan=" + read_small_file(t + "/wchan") + "\n";
    }
    ::closedir(d);
  }
  if (::access("/usr/bin/gdb", X_OK) == 0) {
    const std::string cmd = "gdb -p " + std::to_string(pid_) +
                            " -batch -nx -ex 'thread apply all bt' 2>&1 | grep -E '^(Thread|#)'";
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
      char buf[4096];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
      ::pclose(p);
    }
  } else {
    out += "(install gdb for stacks)\n";
  }
  return out;
}

bool SidemeterProcess::send_signal(int sig) {
  return pid_ > 0 && !exit_code_ && ::kill(pid_, sig) == 0;
}

bool SidemeterProcess::running() {
  if (pid_ <= 0 || exit_code_) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    exit_code_ = decode_status(status);
    return false;
  }
  return true;
}

std::optional<int> SidemeterProcess::wait_exit(Deadline deadline) {
  if (pid_ <= 0) return std::nullopt;
  while (!exit_code_) {
    if (!running()) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    if (pidfd_ >= 0) {
      // The pidfd becomes readable when the child exits: no polling interval to tune.
      pollfd p{pidfd_, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    } else {
      ::poll(nullptr, 0, 10);
    }
  }
  // The last log lines may still be in the pipe: wait for EOF so callers that assert
  // on the final "drained" line see it.
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_until(lock, deadline, [&] { return streams_closed_; });
  return exit_code_;
}

std::vector<std::string> SidemeterProcess::log_lines() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lines_;
}

std::string SidemeterProcess::log_text() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream out;
  out << "---- sidemeter stderr (" << lines_.size() << " lines) ----\n";
  for (const std::string& l : lines_) out << l << "\n";
  return out.str();
}

std::string SidemeterProcess::stdout_text() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stdout_;
}

RunResult run_sidemeter(std::vector<std::string> args, Deadline deadline) {
  RunResult r;
  SidemeterProcess p(std::move(args));
  if (!p.started()) {
    r.err = p.error();
    return r;
  }
  r.exit_code = p.wait_exit(deadline);
  // Streams reach EOF once the child is gone; wait_for_log returns at EOF.
  p.wait_for_log("\x01never\x01", deadline);
  r.out = p.stdout_text();
  for (const std::string& l : p.log_lines()) r.err += l + "\n";
  return r;
}

std::string make_config(std::string_view upstream, std::string_view extra, int workers) {
  std::string y;
  y += "listen: 127.0.0.1:0\n";
  y += "workers: " + std::to_string(workers) + "\n";
  y += "stats:\n  address: 127.0.0.1:0\n";
  const std::string address = "  address: " + std::string(upstream) + "\n";
  // `extra` may open its own upstream section (pool settings): the address joins it.
  std::string rest(extra);
  const size_t section = rest.find("upstream:\n");
  if (section != std::string::npos && (section == 0 || rest[section - 1] == '\n')) {
    rest.insert(section + std::string_view("upstream:\n").size(), address);
  } else {
    y += "upstream:\n" + address;
  }
  y += rest;
  return y;
}

}  // namespace sidemeter::testing
