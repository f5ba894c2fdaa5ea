#pragma once
// The access log's one writer thread. Workers format their lines and queue them in their
// own LineBuffer; this thread drains the queues and write()s them to the file (or
// standard error). Nothing here ever waits on a worker, and no worker ever waits on the
// output: a blocked pipe or a full disk stalls this thread alone, the queues fill, and
// further lines are dropped and counted (queue_full). Lines the output refuses are
// dropped and counted too (write_error).
//
// The file is opened with O_APPEND (and O_NONBLOCK, so a FIFO whose reader stopped
// cannot hold the thread); reopen() closes and opens the same path again, which is what
// logrotate needs after it renamed the file (SIGUSR1).
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proxy/access_log/line_buffer.h"

namespace sidemeter::access_log {

struct Counters {
  uint64_t lines_written = 0;
  uint64_t dropped_queue_full = 0;   // a worker's queue was full
  uint64_t dropped_write_error = 0;  // the output failed (or could not be opened)
};

class Writer {
 public:
  static constexpr const char* kStderr = "stderr";

  // path: "" = off (no thread until a path is set), "stderr", or a file.
  explicit Writer(std::string path);
  ~Writer();  // stop()
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // One per worker, before start(). The reference lives as long as the writer.
  LineBuffer& add_buffer(size_t max_bytes);
  // Starts the thread if a path is set (set_path starts it later otherwise).
  void start();

  // Control thread. A changed path closes the old output and opens the new one on the
  // writer thread; "" closes it (queued lines are still written... nowhere: dropped).
  void set_path(const std::string& path);
  // Control thread (SIGUSR1): close and open the path again, on the writer thread.
  void reopen();
  // Writes what is queued (giving a blocked output up to `flush_ms`), then ends the thread.
  void stop(uint64_t flush_ms = 1000);

  Counters counters() const;
  // Reopens done (tests wait on it rather than on time).
  uint64_t reopens() const { return reopens_.load(std::memory_order_acquire); }

 private:
  struct Slot {
    LineBuffer* buffer;
    std::string taken;  // lines taken from the buffer, not yet written
    size_t off = 0;     // bytes of `taken` already written
  };

  void run();
  void open_output(const std::string& path, const char* why);
  void close_output();
  // Writes slot.taken from slot.off on. False when the output would block.
  bool write_slot(Slot& slot);
  void drop_slot(Slot& slot);
  bool take_all();  // true if any slot has bytes to write
  bool all_empty() const;
  bool wait_writable(uint64_t timeout_ms);

  std::vector<std::unique_ptr<LineBuffer>> buffers_;
  std::vector<Slot> slots_;  // writer thread only, after start
  Doorbell doorbell_;
  std::thread thread_;
  bool started_ = false;  // control thread

  std::mutex mu_;           // guards path_ and the requests
  std::string path_;        // the wanted path
  bool reopen_ = false;     // reopen requested
  bool stop_ = false;
  uint64_t flush_ms_ = 1000;

  // Writer thread only.
  int fd_ = -1;
  std::string open_path_;    // what fd_ is (or was meant to be) open on
  bool atomic_lines_ = false;  // not a regular file: write whole lines of <= PIPE_BUF
  bool is_socket_ = false;     // stderr is a socket: send() with MSG_DONTWAIT
  bool write_failing_ = false; // logged once per run of failures
  bool open_failed_ = false;
  uint64_t retry_at_ms_ = 0;

  std::atomic<uint64_t> lines_written_{0};
  std::atomic<uint64_t> dropped_write_error_{0};
  std::atomic<uint64_t> reopens_{0};
};

}  // namespace sidemeter::access_log
