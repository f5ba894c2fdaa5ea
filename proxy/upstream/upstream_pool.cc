#include "proxy/upstream/upstream_pool.h"

#include <algorithm>

#include "proxy/upstream/upstream_connection.h"
#include "proxy/worker/worker.h"

namespace sidemeter {

UpstreamConnection* UpstreamPool::take() {
  if (idle_.empty()) return nullptr;
  UpstreamConnection* c = idle_.back();
  idle_.pop_back();
  return c;
}

void UpstreamPool::put(UpstreamConnection* c) {
  const ConfigSnapshot& current = *worker_.snapshot();
  // A connection to an upstream that a reload replaced is retired, never reused.
  if (worker_.draining() || c->target() != current.upstream.get() ||
      c->tls_context() != current.upstream_tls.get() ||
      idle_.size() >= current.config->upstream.max_idle_per_worker) {
    c->abandon(false);
    return;
  }
  c->become_idle();
  idle_.push_back(c);
}

void UpstreamPool::forget(UpstreamConnection* c) {
  auto it = std::find(idle_.begin(), idle_.end(), c);
  if (it != idle_.end()) idle_.erase(it);
}

void UpstreamPool::close_all() {
  auto idle = std::move(idle_);
  idle_.clear();
  for (auto* c : idle) c->abandon(false);
}

}  // namespace sidemeter
