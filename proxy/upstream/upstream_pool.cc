#include "proxy/upstream/upstream_pool.h"

#include <algorithm>

#include "proxy/upstream/upstream_connection.h"
#include "proxy/worker/worker.h"

namespace sidemeter {

UpstreamConnection* UpstreamPool::take(bool look_for_close) {
  while (!idle_.empty()) {
    UpstreamConnection* c = idle_.back();
    idle_.pop_back();
    if (c->ready_for_reuse(look_for_close)) return c;
    // Closed or reset by the upstream since the loop last looked, stray bytes, or an
    // address the name no longer resolves to: retired, and the next one is tried.
    c->abandon(false);
  }
  return nullptr;
}

void UpstreamPool::put(UpstreamConnection* c) {
  const ConfigSnapshot& current = *worker_.snapshot();
  // A connection to an upstream that a reload replaced, or to an address its name no
  // longer resolves to, is retired, never reused.
  if (worker_.draining() || c->target() != current.upstream.get() ||
      c->address_generation() != current.upstream->address_generation() ||
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
