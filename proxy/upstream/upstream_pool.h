#pragma once
// Per-worker keep-alive pool of idle upstream connections. LIFO, so the busiest
// connections stay warm and the rest age out through the idle timeout, which is kept
// shorter than common backends' so we close first and rarely lose the reuse race.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sidemeter {

class UpstreamConnection;
class Worker;

class UpstreamPool {
 public:
  explicit UpstreamPool(Worker& worker) : worker_(worker) {}
  // An idle connection ready for a request, or nullptr. Idle connections that can no
  // longer carry one (UpstreamConnection::ready_for_reuse) are closed on the way.
  // `look_for_close`: also ask the socket whether the upstream closed it since the loop
  // last looked (a system call); a request the stale-connection retry covers skips it.
  UpstreamConnection* take(bool look_for_close);
  // The connection finished an exchange cleanly; pool it or close it if full/draining.
  void put(UpstreamConnection* c);
  // An idle connection closed itself (peer closed, idle timeout).
  void forget(UpstreamConnection* c);
  void close_all();
  size_t idle_count() const { return idle_.size(); }

 private:
  Worker& worker_;
  std::vector<UpstreamConnection*> idle_;
};

}  // namespace sidemeter
