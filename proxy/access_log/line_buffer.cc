#include "proxy/access_log/line_buffer.h"

#include <chrono>

namespace sidemeter::access_log {

void Doorbell::signal() {
  {
    std::lock_guard lock(mu_);
    rung_ = true;
  }
  cv_.notify_one();
}

void Doorbell::wait(uint64_t timeout_ms) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return rung_; });
  rung_ = false;
  armed_.store(false, std::memory_order_relaxed);
}

bool LineBuffer::append(std::string_view line) {
  {
    std::lock_guard lock(mu_);
    if (data_.size() + line.size() > max_bytes_.load(std::memory_order_relaxed)) {
      dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return false;
    }
    data_.append(line);
  }
  // After the unlock: a writer that armed the bell before checking this queue under the
  // same mutex either saw the line or is seen armed here.
  if (doorbell_ != nullptr) doorbell_->ring();
  return true;
}

bool LineBuffer::take(std::string& out) {
  std::lock_guard lock(mu_);
  if (data_.empty()) return false;
  out.swap(data_);
  return true;
}

bool LineBuffer::empty() const {
  std::lock_guard lock(mu_);
  return data_.empty();
}

}  // namespace sidemeter::access_log
