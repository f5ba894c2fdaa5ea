// The access log's queues and writer thread: a full queue drops and counts, a renamed
// file is left for the new one at reopen(), and a pipe nobody reads stalls the writer
// alone (appends return at once, drops are counted).
#include "proxy/access_log/writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

namespace sidemeter::access_log {
namespace {

using Clock = std::chrono::steady_clock;

// Waits for a condition another thread makes true; the deadline only bounds a failure.
bool eventually(const std::function<bool()>& done, std::chrono::seconds limit = std::chrono::seconds(10)) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::yield();
  }
  return done();
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/sidemeter-al-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t count_lines(const std::string& s) { return size_t(std::count(s.begin(), s.end(), '\n')); }

std::string line(int i) { return "{\"n\":" + std::to_string(i) + "}\n"; }

TEST(LineBuffer, DropsAndCountsWhatDoesNotFit) {
  LineBuffer b(100, nullptr);
  const std::string ten = "123456789\n";
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(b.append(ten)) << i;
  EXPECT_FALSE(b.append(ten));
  EXPECT_FALSE(b.append("x\n"));
  EXPECT_EQ(b.dropped(), 2u);
  std::string out;
  ASSERT_TRUE(b.take(out));
  EXPECT_EQ(out.size(), 100u);
  EXPECT_TRUE(b.empty());
  // Room again once the writer took the lines; a smaller bound applies to the next append.
  EXPECT_TRUE(b.append(ten));
  b.set_max_bytes(15);
  EXPECT_FALSE(b.append(ten));
  EXPECT_EQ(b.dropped(), 3u);
  out.clear();
  EXPECT_FALSE(b.take(out) && out.size() != 10);
}

TEST(Writer, WritesEveryQueuedLineFromEveryQueue) {
  TempDir dir;
  const std::string path = dir.file("access.log");
  Writer w(path);
  LineBuffer& a = w.add_buffer(1 << 20);
  LineBuffer& b = w.add_buffer(1 << 20);
  w.start();
  for (int i = 0; i < 500; ++i) {
    ASSERT_TRUE(a.append(line(i)));
    ASSERT_TRUE(b.append(line(1000 + i)));
  }
  ASSERT_TRUE(eventually([&] { return w.counters().lines_written == 1000; }))
      << w.counters().lines_written;
  w.stop();
  const std::string text = read_file(path);
  EXPECT_EQ(count_lines(text), 1000u);
  // Lines from one queue keep their order.
  EXPECT_LT(text.find(line(0)), text.find(line(499)));
  EXPECT_LT(text.find(line(1000)), text.find(line(1499)));
  EXPECT_EQ(w.counters().dropped_queue_full, 0u);
  EXPECT_EQ(w.counters().dropped_write_error, 0u);
}

TEST(Writer, ReopenAfterRenameWritesToTheNewFile) {
  TempDir dir;
  const std::string path = dir.file("access.log");
  const std::string rotated = dir.file("access.log.1");
  Writer w(path);
  LineBuffer& q = w.add_buffer(1 << 20);
  w.start();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(q.append(line(i)));
  ASSERT_TRUE(eventually([&] { return w.counters().lines_written == 5; }));
  ASSERT_EQ(::rename(path.c_str(), rotated.c_str()), 0);
  // Until the reopen the writer still holds the renamed file: lines go there.
  ASSERT_TRUE(q.append(line(5)));
  ASSERT_TRUE(eventually([&] { return w.counters().lines_written == 6; }));
  w.reopen();
  ASSERT_TRUE(eventually([&] { return w.reopens() == 1; }));
  for (int i = 6; i < 9; ++i) ASSERT_TRUE(q.append(line(i)));
  ASSERT_TRUE(eventually([&] { return w.counters().lines_written == 9; }));
  w.stop();
  EXPECT_EQ(read_file(rotated), line(0) + line(1) + line(2) + line(3) + line(4) + line(5));
  EXPECT_EQ(read_file(path), line(6) + line(7) + line(8));
}

TEST(Writer, NewPathTakesEffectAndEmptyPathDrops) {
  TempDir dir;
  Writer w("");
  LineBuffer& q = w.add_buffer(1 << 20);
  w.start();  // no path: no thread yet
  w.set_path(dir.file("one.log"));
  ASSERT_TRUE(q.append(line(1)));
  ASSERT_TRUE(eventually([&] { return w.counters().lines_written == 1; }));
  w.set_path(dir.file("two.log"));
  ASSERT_TRUE(q.append(line(2)));
  ASSERT_TRUE(eventually([&] { return w.counters().lines_written == 2; }));
  w.set_path("");  // off: whatever is still queued has nowhere to go
  ASSERT_TRUE(q.append(line(3)));
  ASSERT_TRUE(eventually([&] { return w.counters().dropped_write_error == 1; }));
  w.stop();
  EXPECT_EQ(read_file(dir.file("one.log")), line(1));
  EXPECT_EQ(read_file(dir.file("two.log")), line(2));
}

TEST(Writer, UnopenablePathCountsWriteErrors) {
  TempDir dir;
  Writer w(dir.file("no/such/dir/access.log"));
  LineBuffer& q = w.add_buffer(1 << 20);
  w.start();
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(q.append(line(i)));
  ASSERT_TRUE(eventually([&] { return w.counters().dropped_write_error == 7; }))
      << w.counters().dropped_write_error;
  EXPECT_EQ(w.counters().lines_written, 0u);
  w.stop();
}

TEST(Writer, StoppedPipeReaderNeverBlocksAppends) {
  TempDir dir;
  const std::string fifo = dir.file("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // The reader opens first (non-blocking, so it does not wait for a writer), then never
  // reads until the end: the writer fills the pipe and blocks on it.
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  Writer w(fifo);
  LineBuffer& q = w.add_buffer(64 * 1024);
  w.start();
  const std::string payload(200, 'x');
  const int kLines = 50'000;  // ~10 MB: far beyond the pipe (64 KiB) and the queue
  int accepted = 0;
  Clock::duration slowest{};
  const auto t0 = Clock::now();
  for (int i = 0; i < kLines; ++i) {
    const auto a = Clock::now();
    if (q.append("{\"x\":\"" + payload + "\"}\n")) ++accepted;
    slowest = std::max(slowest, Clock::now() - a);
  }
  const auto total = Clock::now() - t0;
  // Each append is a lock and a copy: generous bounds that a blocked append would blow.
  EXPECT_LT(slowest, std::chrono::milliseconds(100));
  EXPECT_LT(total, std::chrono::seconds(5));
  const uint64_t dropped = w.counters().dropped_queue_full;
  EXPECT_EQ(dropped, uint64_t(kLines - accepted));
  EXPECT_GT(dropped, uint64_t(kLines / 2));
  // Written + dropped + still queued = appended.
  EXPECT_LE(w.counters().lines_written + dropped, uint64_t(kLines));

  // The reader resumes: what was accepted arrives, whole lines only.
  std::string got;
  char buf[65536];
  ASSERT_TRUE(eventually([&] {
    ssize_t n;
    while ((n = ::read(reader, buf, sizeof buf)) > 0) got.append(buf, size_t(n));
    return w.counters().lines_written == uint64_t(accepted) && count_lines(got) == size_t(accepted);
  })) << w.counters().lines_written << " of " << accepted;
  for (size_t pos = 0; pos < got.size();) {
    size_t nl = got.find('\n', pos);
    ASSERT_NE(nl, std::string::npos);
    ASSERT_EQ(nl - pos, payload.size() + 8) << "a torn line at " << pos;
    pos = nl + 1;
  }
  w.stop();
  ::close(reader);
}

TEST(Writer, StopGivesUpOnABlockedOutput) {
  TempDir dir;
  const std::string fifo = dir.file("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  Writer w(fifo);
  LineBuffer& q = w.add_buffer(1 << 20);
  w.start();
  const std::string big(1000, 'y');
  for (int i = 0; i < 1000; ++i) q.append(big + "\n");  // ~1 MB against a 64 KiB pipe
  const auto t0 = Clock::now();
  w.stop(/*flush_ms=*/200);
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(3));
  ::close(reader);
}

}  // namespace
}  // namespace sidemeter::access_log
