#pragma once
// Where a parser keeps a head while it reads and uses it: the bytes (start line and field
// lines) and the field list that points into them. One pool per worker, shared by its
// downstream connections, so a connection holds these only from a request's first byte
// to the end of its exchange, not while it sits idle between requests (as HAProxy's
// buffer pools and nginx's request pools do). Single-threaded: one worker's loop.
#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include "proxy/http1/message.h"

namespace sidemeter::http {

// A head's bytes: a growable byte buffer that moves as three words (a std::string moves
// with its small-string checks, several times the cost, once per request each way).
class HeadBytes {
 public:
  HeadBytes() = default;
  HeadBytes(HeadBytes&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        capacity_(std::exchange(o.capacity_, 0)) {}
  HeadBytes& operator=(HeadBytes&& o) noexcept {
    if (this != &o) {
      if (data_ != nullptr) std::free(data_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      capacity_ = std::exchange(o.capacity_, 0);
    }
    return *this;
  }
  HeadBytes(const HeadBytes&) = delete;
  HeadBytes& operator=(const HeadBytes&) = delete;
  // Most are empty when they go (moved into or out of the pool): no call into libc then.
  ~HeadBytes() {
    if (data_ != nullptr) std::free(data_);
  }
  void swap(HeadBytes& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(capacity_, o.capacity_);
  }

  const char* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }
  void clear() { size_ = 0; }
  // Grows to at least n bytes (moving the bytes: views into them must be rebased).
  // Throws std::bad_alloc as std::string does.
  void reserve(size_t n) {
    if (n <= capacity_) return;
    char* p = static_cast<char*>(std::realloc(data_, n));
    if (p == nullptr) throw std::bad_alloc();
    data_ = p;
    capacity_ = n;
  }
  void append(const char* p, size_t n) {
    if (size_ + n > capacity_) reserve(std::max(size_ + n, 2 * capacity_));
    if (n != 0) std::memcpy(data_ + size_, p, n);
    size_ += n;
  }
  // Gives the memory back.
  void release() {
    std::free(data_);
    data_ = nullptr;
    size_ = capacity_ = 0;
  }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

class HeadBufferPool {
 public:
  // What a fresh head is given: room for a typical API request head without growing.
  static constexpr size_t kBytes = 1024;
  static constexpr size_t kFields = 24;
  // A head that grew past these gives its memory back instead of keeping it pooled.
  static constexpr size_t kMaxPooledBytes = 4 * 1024;
  static constexpr size_t kMaxPooledFields = 64;

  // Pooled pairs kept at most: about 2 KiB each. Beyond, returned heads are freed.
  explicit HeadBufferPool(size_t max_pooled = 256) : max_pooled_(max_pooled) {}
  HeadBufferPool(const HeadBufferPool&) = delete;
  HeadBufferPool& operator=(const HeadBufferPool&) = delete;

  // Fills `bytes` and `fields`, empty and without memory (as give leaves them), with the most recently returned pair (still warm in
  // the cache), or reserves a fresh one of min(kBytes, max_bytes) bytes and
  // min(kFields, max_fields) fields. Either may hold less than a head needs: the parser
  // grows them as it reads (a reload may have raised the limits since a pair was made).
  void take(HeadBytes& bytes, std::vector<HeaderField>& fields, size_t max_bytes,
            size_t max_fields) {
    if (!pooled_.empty()) [[likely]] {
      // `bytes` and `fields` are empty (give left them so): swapping frees nothing.
      Pair& p = pooled_.back();
      bytes.swap(p.bytes);
      fields.swap(p.fields);
      pooled_.pop_back();
      return;
    }
    take_fresh(bytes, fields, max_bytes, max_fields);
  }
  // Takes `bytes` and `fields` back; both are left empty, without memory.
  void give(HeadBytes& bytes, std::vector<HeaderField>& fields) {
    if (pooled_.size() < max_pooled_ && bytes.capacity() <= kMaxPooledBytes &&
        fields.capacity() <= kMaxPooledFields) [[likely]] {
      bytes.clear();
      fields.clear();
      pooled_.emplace_back(std::move(bytes), std::move(fields));
      return;
    }
    drop(bytes, fields);
  }

  size_t pooled() const { return pooled_.size(); }

 private:
  struct Pair {
    Pair(HeadBytes&& b, std::vector<HeaderField>&& f) : bytes(std::move(b)), fields(std::move(f)) {}
    HeadBytes bytes;
    std::vector<HeaderField> fields;
  };
  static void take_fresh(HeadBytes& bytes, std::vector<HeaderField>& fields, size_t max_bytes,
                         size_t max_fields);
  static void drop(HeadBytes& bytes, std::vector<HeaderField>& fields);

  size_t max_pooled_;
  std::vector<Pair> pooled_;
};

}  // namespace sidemeter::http
