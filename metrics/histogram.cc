#include "metrics/histogram.h"

#include <cmath>

namespace sidemeter::metrics {

namespace layout_detail {
namespace {

// Each bucket's largest value, and the candidate table index() reads: built at compile
// time, here only (see Shape in the header).
template <uint64_t kMin, uint64_t kMax, uint64_t kPerUnit>
struct Tables : Shape<kMin, kMax, kPerUnit> {
  using S = Shape<kMin, kMax, kPerUnit>;
  using S::kBuckets, S::kEMax, S::kEMin, S::kFirst;  // a dependent base's names, made visible

  static constexpr std::array<uint64_t, kBuckets> uppers = [] {
    std::array<uint64_t, kBuckets> u{};
    for (uint32_t i = 1; i < kBuckets; ++i) u[i] = native_upper(kFirst + int32_t(i) - 1, kPerUnit);
    u[kBuckets - 1] = kMax;  // clamped: the last bucket ends at the range's end
    return u;
  }();

  static constexpr uint32_t search(uint64_t v) {
    uint32_t lo = 0, hi = kBuckets - 1;
    while (lo < hi) {
      const uint32_t mid = (lo + hi) / 2;
      if (uppers[mid] >= v) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    return lo;
  }

  static constexpr std::array<uint16_t, S::kCandidates> candidates = [] {
    constexpr uint64_t kSub = uint64_t{1} << kIndexMantissaBits;
    std::array<uint16_t, S::kCandidates> c{};
    for (int e = kEMin; e <= kEMax; ++e) {
      for (uint64_t m = 0; m < kSub; ++m) {
        // The integers whose leading one is bit e and whose next 7 bits are m.
        const uint64_t first = std::clamp((((kSub + m) << e) + kSub - 1) >> kIndexMantissaBits,
                                          kMin > 0 ? kMin : 1, kMax);
        const uint64_t last = std::clamp((((kSub + m + 1) << e) - 1) >> kIndexMantissaBits,
                                         kMin > 0 ? kMin : 1, kMax);
        const uint32_t lo = search(first);
        if (search(last) > lo + 1) throw std::logic_error("sub-interval spans 3 buckets");
        c[(size_t(e - kEMin) << kIndexMantissaBits) | m] = uint16_t(lo);
      }
    }
    return c;
  }();
};

}  // namespace

constexpr std::array<uint64_t, DurationShape::kBuckets> kDurationUppers =
    Tables<1'000, 3'600'000'000'000ull, 1'000'000'000>::uppers;
constexpr std::array<uint16_t, DurationShape::kCandidates> kDurationCandidates =
    Tables<1'000, 3'600'000'000'000ull, 1'000'000'000>::candidates;
constexpr std::array<uint64_t, SizeShape::kBuckets> kSizeUppers =
    Tables<0, uint64_t{16} << 30, 1>::uppers;
constexpr std::array<uint16_t, SizeShape::kCandidates> kSizeCandidates =
    Tables<0, uint64_t{16} << 30, 1>::candidates;

}  // namespace layout_detail

void Histogram::store_range(uint32_t lo, uint32_t hi) {
  const uint32_t n = layout_->num_buckets;
  if (!counts_.empty()) {
    lo = std::min(lo, first_);
    hi = std::max(hi, first_ + uint32_t(counts_.size()));
  }
  lo = lo / kStep * kStep;
  hi = std::min(n, (hi + kStep - 1) / kStep * kStep);
  if (!counts_.empty() && lo == first_ && hi - lo == counts_.size()) return;
  std::vector<uint64_t> grown(hi - lo, 0);  // exactly the range: no capacity doubling
  std::copy(counts_.begin(), counts_.end(), grown.begin() + (first_ - lo) * !counts_.empty());
  counts_ = std::move(grown);
  first_ = lo;
}

void Histogram::add(const Histogram& o) {
  if (!o.counts_.empty()) {
    store_range(o.first_, o.first_ + uint32_t(o.counts_.size()));
    uint64_t* dst = counts_.data() + (o.first_ - first_);
    for (size_t i = 0; i < o.counts_.size(); ++i) dst[i] += o.counts_[i];
  }
  count_ += o.count_;
  sum_ += o.sum_;
  max_ = std::max(max_, o.max_);
}

void Histogram::subtract(const Histogram& o) {
  if (!o.counts_.empty()) {
    store_range(o.first_, o.first_ + uint32_t(o.counts_.size()));
    uint64_t* dst = counts_.data() + (o.first_ - first_);
    for (size_t i = 0; i < o.counts_.size(); ++i) dst[i] -= o.counts_[i];
  }
  count_ -= o.count_;
  sum_ -= o.sum_;
}

void Histogram::clear() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = sum_ = max_ = 0;
}

bool Histogram::operator==(const Histogram& o) const {
  if (layout_ != o.layout_ || count_ != o.count_ || sum_ != o.sum_) return false;
  for (size_t j = 0; j < counts_.size(); ++j) {
    if (counts_[j] != o.bucket(first_ + uint32_t(j))) return false;
  }
  for (size_t j = 0; j < o.counts_.size(); ++j) {
    if (o.counts_[j] != bucket(o.first_ + uint32_t(j))) return false;
  }
  return true;
}

uint64_t Histogram::min() const {
  if (count_ == 0) return 0;
  for (uint32_t j = 0; j < counts_.size(); ++j) {
    if (counts_[j]) return layout_->lower(first_ + j);
  }
  return 0;
}

double Histogram::quantile(double q) const {
  double out = 0;
  quantiles(std::span<const double>(&q, 1), std::span<double>(&out, 1));
  return out;
}

void Histogram::quantiles(std::span<const double> qs, std::span<double> out) const {
  if (count_ == 0 || counts_.empty()) {
    std::fill(out.begin(), out.end(), 0.0);
    return;
  }
  uint64_t seen = 0;
  uint32_t j = 0;
  const uint32_t n = uint32_t(counts_.size());
  for (size_t k = 0; k < qs.size(); ++k) {
    const double q = std::clamp(qs[k], 0.0, 1.0);
    const uint64_t rank = std::max<uint64_t>(1, uint64_t(std::ceil(q * double(count_))));
    while (j < n && seen + counts_[j] < rank) seen += counts_[j++];
    if (j == n) j = n - 1;  // only reachable if count_ disagrees with the buckets
    out[k] = layout_->midpoint(first_ + j);
  }
}

void counts_at_bounds(const Histogram& h, std::span<const uint64_t> bounds,
                      std::span<uint64_t> out) {
  std::fill(out.begin(), out.end(), 0);
  const std::span<const uint64_t> b = h.stored_buckets();
  size_t k = 0;
  for (uint32_t j = 0; j < b.size(); ++j) {
    if (b[j] == 0) continue;
    const uint64_t upper = h.layout().upper(h.first_bucket() + j);
    while (k < bounds.size() && bounds[k] < upper) ++k;
    out[k] += b[j];
  }
}

void SparseHistogram::add_to(Histogram& h) const {
  if (!entries.empty()) h.store_range(entries.front().index, entries.back().index + 1);
  for (const Entry& e : entries) h.at(e.index) += e.count;
  h.set_totals(h.count() + count, h.sum() + sum);
}

void SparseHistogram::subtract_from(Histogram& h) const {
  for (const Entry& e : entries) h.at(e.index) -= e.count;
  h.set_totals(h.count() - count, h.sum() - sum);
}

AtomicHistogram::~AtomicHistogram() {
  for (auto& p : pages_) {
    Page* page = p.load(std::memory_order_relaxed);
    if (page == nullptr) continue;
    for (auto& c : page->chunks) delete c.load(std::memory_order_relaxed);
    delete page;
  }
}

AtomicHistogram::Page* AtomicHistogram::add_page(uint32_t p) {
  // Warm-up only: at most kPages per histogram.
  auto* page = new Page;
  for (auto& c : page->chunks) c.store(nullptr, std::memory_order_relaxed);
  pages_[p].store(page, std::memory_order_release);
  return page;
}

AtomicHistogram::Chunk* AtomicHistogram::add_chunk(std::atomic<Chunk*>& slot) {
  // Warm-up only: once per 32 buckets ever hit.
  auto* chunk = new Chunk;
  for (auto& c : chunk->counts) c.store(0, std::memory_order_relaxed);
  slot.store(chunk, std::memory_order_release);
  return chunk;
}

void AtomicHistogram::read_into(Histogram& acc) const {
  // The chunks first, then acc's range grown once to hold them all: grown chunk by chunk,
  // an empty acc (a snapshot's, read at each scrape) was reallocated and copied per chunk.
  std::array<const Chunk*, kPages * kPage> chunks{};
  uint32_t lo = UINT32_MAX, hi = 0;
  for (uint32_t p = 0; p < kPages; ++p) {
    const Page* page = pages_[p].load(std::memory_order_acquire);
    if (page == nullptr) continue;
    for (uint32_t c = 0; c < kPage; ++c) {
      const Chunk* chunk = page->chunks[c].load(std::memory_order_acquire);
      if (chunk == nullptr) continue;
      chunks[p * kPage + c] = chunk;
      lo = std::min(lo, p * kPage + c);
      hi = p * kPage + c + 1;
    }
  }
  const uint32_t n = layout_->num_buckets;
  if (hi > 0) acc.store_range(lo * kChunk, std::min(n, hi * kChunk));
  uint64_t count = 0;
  for (uint32_t i = lo; i < hi; ++i) {
    if (chunks[i] == nullptr) continue;
    const uint32_t first = i * kChunk;
    const uint32_t len = std::min(kChunk, n - first);
    uint64_t* dst = &acc.at(first);  // stored, with the len after it (store_range above)
    for (uint32_t k = 0; k < len; ++k) {
      const uint64_t v = chunks[i]->counts[k].load(std::memory_order_relaxed);
      dst[k] += v;
      count += v;
    }
  }
  acc.set_totals(acc.count() + count, acc.sum() + sum_.load(std::memory_order_relaxed));
}

size_t AtomicHistogram::memory_bytes() const {
  size_t bytes = sizeof(*this);
  for (const auto& p : pages_) {
    const Page* page = p.load(std::memory_order_acquire);
    if (page == nullptr) continue;
    bytes += sizeof(Page);
    for (const auto& c : page->chunks) {
      if (c.load(std::memory_order_acquire) != nullptr) bytes += sizeof(Chunk);
    }
  }
  return bytes;
}

}  // namespace sidemeter::metrics
