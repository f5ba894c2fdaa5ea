#include "proxy/access_log/writer.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string_view>

#include "proxy/log.h"

namespace sidemeter::access_log {
namespace {

uint64_t mono_ms() {
  using namespace std::chrono;
  return uint64_t(duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

uint64_t count_lines(const char* p, size_t n) { return uint64_t(std::count(p, p + n, '\n')); }

constexpr uint64_t kRetryOpenMs = 1000;  // a path that could not be opened is tried again
constexpr uint64_t kIdleWaitMs = 1000;
constexpr uint64_t kBlockedPollMs = 100;  // re-checks stop/reopen while the output blocks

}  // namespace

Writer::Writer(std::string path) : path_(std::move(path)) {}

Writer::~Writer() { stop(); }

LineBuffer& Writer::add_buffer(size_t max_bytes) {
  buffers_.push_back(std::make_unique<LineBuffer>(max_bytes, &doorbell_));
  return *buffers_.back();
}

void Writer::start() {
  if (started_) return;
  {
    std::lock_guard lock(mu_);
    if (path_.empty() || stop_) return;
  }
  started_ = true;
  slots_.clear();
  for (auto& b : buffers_) slots_.push_back(Slot{b.get(), std::string(), 0});
  thread_ = std::thread([this] { run(); });
}

void Writer::set_path(const std::string& path) {
  {
    std::lock_guard lock(mu_);
    if (path_ == path) return;
    path_ = path;
  }
  if (!started_) {
    start();
    return;
  }
  doorbell_.signal();
}

void Writer::reopen() {
  {
    std::lock_guard lock(mu_);
    reopen_ = true;
  }
  doorbell_.signal();
}

void Writer::stop(uint64_t flush_ms) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
    flush_ms_ = flush_ms;
  }
  doorbell_.signal();
  if (thread_.joinable()) thread_.join();
}

Counters Writer::counters() const {
  Counters c;
  c.lines_written = lines_written_.load(std::memory_order_relaxed);
  c.dropped_write_error = dropped_write_error_.load(std::memory_order_relaxed);
  for (const auto& b : buffers_) c.dropped_queue_full += b->dropped();
  return c;
}

void Writer::run() {
  pthread_setname_np(pthread_self(), "sm-access-log");
  for (;;) {
    std::string path;
    bool reopen = false;
    bool stop = false;
    {
      std::lock_guard lock(mu_);
      path = path_;
      reopen = reopen_;
      reopen_ = false;
      stop = stop_;
    }
    if (path != open_path_ || fd_ < 0 || reopen) {
      const bool retry = path == open_path_ && !reopen;
      if (!retry || (!path.empty() && mono_ms() >= retry_at_ms_)) {
        const char* why = reopen ? "reopen" : retry ? "retry" : "configure";
        close_output();
        open_output(path, why);
        if (reopen) reopens_.fetch_add(1, std::memory_order_release);
      }
    }
    if (stop) break;

    if (take_all()) {
      bool blocked = false;
      for (Slot& s : slots_) {
        if (s.off < s.taken.size() && !write_slot(s)) {
          blocked = true;
          break;
        }
      }
      if (blocked) wait_writable(kBlockedPollMs);
      continue;  // more may have come meanwhile
    }
    doorbell_.arm();
    if (!all_empty()) {
      doorbell_.disarm();
      continue;
    }
    doorbell_.wait(fd_ < 0 && !open_path_.empty() ? kRetryOpenMs : kIdleWaitMs);
  }

  // Stopping: write what is queued, giving a blocked output flush_ms_ in all.
  const uint64_t deadline = mono_ms() + flush_ms_;
  while (take_all() && mono_ms() < deadline) {
    bool blocked = false;
    for (Slot& s : slots_) {
      if (s.off < s.taken.size() && !write_slot(s)) {
        blocked = true;
        break;
      }
    }
    if (!blocked) continue;
    const uint64_t now = mono_ms();
    if (now >= deadline) break;
    wait_writable(std::min<uint64_t>(deadline - now, kBlockedPollMs));
  }
  for (Slot& s : slots_) drop_slot(s);
  close_output();
}

bool Writer::take_all() {
  bool any = false;
  for (Slot& s : slots_) {
    if (s.off >= s.taken.size()) {
      s.taken.clear();
      s.off = 0;
      s.buffer->take(s.taken);
    }
    if (s.off < s.taken.size()) any = true;
  }
  return any;
}

bool Writer::all_empty() const {
  for (const Slot& s : slots_) {
    if (!s.buffer->empty()) return false;
  }
  return true;
}

void Writer::drop_slot(Slot& s) {
  if (s.off < s.taken.size()) {
    const uint64_t n = count_lines(s.taken.data() + s.off, s.taken.size() - s.off);
    dropped_write_error_.fetch_add(n, std::memory_order_relaxed);
  }
  s.taken.clear();
  s.off = 0;
}

bool Writer::write_slot(Slot& s) {
  if (fd_ < 0) {  // off, or the path could not be opened
    drop_slot(s);
    return true;
  }
  while (s.off < s.taken.size()) {
    const char* p = s.taken.data() + s.off;
    size_t n = s.taken.size() - s.off;
    if (atomic_lines_ && n > PIPE_BUF) {
      // Whole lines of at most PIPE_BUF bytes: a pipe takes them entirely or not at all,
      // so another writer of the same pipe (the process log on stderr) cannot land in
      // the middle of one.
      const std::string_view pending(p, n);
      size_t end = pending.rfind('\n', PIPE_BUF - 1);
      if (end == std::string_view::npos) end = pending.find('\n');
      n = end != std::string_view::npos ? end + 1 : n;
    }
    ssize_t w = is_socket_ ? ::send(fd_, p, n, MSG_DONTWAIT | MSG_NOSIGNAL) : ::write(fd_, p, n);
    if (w > 0) {
      lines_written_.fetch_add(count_lines(p, size_t(w)), std::memory_order_relaxed);
      s.off += size_t(w);
      write_failing_ = false;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    const int err = w < 0 ? errno : EIO;
    if (!write_failing_) {
      write_failing_ = true;
      log::warn("access_log_write_failed", {{"path", open_path_},
                                            {"error", std::strerror(err)},
                                            {"note", "lines are dropped until writes succeed"}});
    }
    drop_slot(s);
    return true;
  }
  s.taken.clear();
  s.off = 0;
  return true;
}

bool Writer::wait_writable(uint64_t timeout_ms) {
  if (fd_ < 0) return false;
  pollfd pfd{fd_, POLLOUT, 0};
  return ::poll(&pfd, 1, int(timeout_ms)) > 0;
}

void Writer::open_output(const std::string& path, const char* why) {
  const bool was_failing = open_failed_ && path == open_path_;
  open_path_ = path;
  atomic_lines_ = false;
  is_socket_ = false;
  open_failed_ = false;
  write_failing_ = false;
  if (path.empty()) return;
  int fd = -1;
  int err = 0;
  struct stat st {};
  if (path == kStderr) {
    if (::fstat(STDERR_FILENO, &st) == 0 && S_ISFIFO(st.st_mode)) {
      // A pipe: a description of our own, non-blocking, so a stopped reader cannot hold
      // this thread; the process log keeps its blocking one.
      fd = ::open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    }
    // Otherwise (or without /proc) share the description: a regular file keeps one
    // offset for both logs; a socket is written with MSG_DONTWAIT.
    if (fd < 0) fd = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
  } else {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK | O_CLOEXEC, 0644);
  }
  if (fd < 0) err = errno;
  if (fd >= 0 && ::fstat(fd, &st) != 0) st.st_mode = 0;
  if (fd < 0) {
    open_failed_ = true;
    retry_at_ms_ = mono_ms() + kRetryOpenMs;
    if (!was_failing)
      log::warn("access_log_open_failed", {{"path", path},
                                           {"error", std::strerror(err)},
                                           {"note", "lines are dropped; retried every second"}});
    return;
  }
  fd_ = fd;
  atomic_lines_ = !S_ISREG(st.st_mode);
  is_socket_ = S_ISSOCK(st.st_mode);
  log::info("access_log_opened", {{"path", path}, {"reason", why}});
}

void Writer::close_output() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace sidemeter::access_log
