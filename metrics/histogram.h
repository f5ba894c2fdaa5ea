#pragma once
// Base-2 exponential histograms: Prometheus native histogram schema 6 = OpenTelemetry
// exponential histogram scale 6, so /metrics and OTLP carry the buckets 1:1 (to_native()).
//
// Bucketing. Let g = 2^(1/64) (64 buckets per power of two). Native bucket k holds the values
// x of the EXPOSED unit (seconds for durations, which are recorded in ns; bytes for sizes)
// with g^(k-1) < x <= g^k; a zero bucket holds x = 0. A layout keeps a range of native
// buckets: local bucket 0 is the zero bucket, local bucket i >= 1 is native bucket
// first_native + i - 1. Values outside [min_value, max_value] are clamped into it (durations
// 1 us .. 1 h: below 1 us counts in the bucket holding 1 us; sizes 0 .. 16 GiB).
//   Boundaries are integers of the recorded unit: native bucket k holds the integers v with
// U(k-1) < v <= U(k), U(k) = floor(g^k * s) (s = 1e9 ns per second, 1 byte per byte): for an
// integer v, v <= g^k * s <=> v <= U(k), so this is exactly the native bucket of v / s.
// 64 * log2(1e9) is not an integer, so the boundaries cannot be powers of two of ns; U is
// derived once, at compile time (from 2^(j/64) literals, correctly rounded; the table is
// checked against exact integer arithmetic in tests/metrics/histogram_test.cc).
//
// Index in O(1), no log()/pow(): e = floor(log2 v) (one clz) and the 7 bits after v's leading
// one select a sub-interval [2^e (1 + m/128), 2^e (1 + (m+1)/128)) whose relative width
// 1/128 = 0.78 % is below a bucket's (g - 1 = 1.09 %), so it meets at most two buckets: a
// table gives the lower one, c, and one compare against U gives index = c + (v > U(c)).
// (The table builder proves "at most two" for every sub-interval, or does not compile.)
//
// Error bound of /stats quantiles. The quantile walk picks the bucket holding the sample of
// rank ceil(q * n) (the "sort and index" definition) and reports the midpoint
// m = (l + u) / 2 of the integers the bucket can hold, l = U(k-1) + 1 and u = U(k) (no clamp to
// the observed maximum: that would move it off the midpoint the bounds below rely on).
//  - vs the exact sample v: l <= v <= u, so |m - v| <= (u - l) / 2 <= (g - 1) g^(k-1) s / 2 and,
//    as v > g^(k-1) s, |m - v| / v < (g - 1) / 2 = 0.5445 %. A bucket holding one integer (all
//    sizes below 92 bytes) is exact.
//  - vs Prometheus (2.42, --enable-feature=native-histograms) histogram_quantile(q, ...) over
//    the native histogram of the same samples: it takes rank r = q * n and the first bucket
//    whose cumulative count reaches r; the counts being integers, that is the first reaching
//    ceil(r), the bucket /stats picks. It then interpolates linearly inside (a, b] =
//    (g^(k-1), g^k]: p in [a, b]. With l / s <= a + 1/s and u / s > b - 1/s,
//    |p - m / s| <= (b - a) / 2 + 1 / (2 s), so relative to /stats's value
//    |p - m/s| / (m/s) <= (g - 1) / 2 + 1 / (2 a s) = 0.5445 % + 0.05 % at 1 us, + 0.0005 % at
//    100 us: within 0.55 % for durations of 100 us and more (and never more than one bucket,
//    1.09 %, from the exact sample). The same holds for sums over pods and for rate(): the
//    bucket is the same as long as both see the same population (Prometheus's rate window vs
//    a /stats window of the same span; otherwise the populations, not the buckets, differ).
//  - OTLP: the same buckets (index i of scale 6 covers (g^i, g^(i+1)], i.e. OTel index =
//    native index - 1), so any estimate a backend picks inside the bucket holding the rank is
//    within the same (g - 1) / 2 + 1 / (2 a s) of /stats and within g - 1 of the exact sample.
#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <vector>

namespace sidemeter::metrics {

inline constexpr int kHistogramSchema = 6;  // Prometheus native schema = OTel scale
inline constexpr int kBucketsPerOctave = 1 << kHistogramSchema;
inline constexpr int kIndexMantissaBits = 7;  // 2^-7 < 2^(1/64) - 1: see "Index in O(1)"

// A value range: which native buckets a histogram stores, with its index tables.
struct HistogramLayout {
  uint64_t min_value;
  uint64_t max_value;
  double unit;           // one recorded unit in the exposed unit (1e-9: ns -> s; 1: bytes)
  int32_t first_native;  // native index of local bucket 1 (0 is the zero bucket)
  uint32_t num_buckets;  // zero bucket + native buckets first_native .. last
  int32_t e_min;         // floor(log2(max(min_value, 1))): the candidate table's first row
  const uint64_t* uppers;      // [num_buckets]: largest value of each bucket (uppers[0] = 0)
  const uint16_t* candidates;  // per (floor(log2 v) - e_min, 7 bits after the leading one)

  uint32_t index(uint64_t v) const {
    // A range holding 0 (sizes): 0 is the zero bucket, and the commonest size (a request
    // without a body). The test folds away for durations.
    if (min_value == 0 && v == 0) return 0;
    v = std::clamp(v, min_value, max_value);
    const int e = 63 - std::countl_zero(v | 1);
    constexpr uint32_t kMask = (1u << kIndexMantissaBits) - 1;
    // The 7 bits after the leading one. A range starting at 2^7 or above (durations) has
    // them all below it: one right shift (the branch folds when the layout is a constant).
    const uint32_t m = e_min >= kIndexMantissaBits
                           ? uint32_t(v >> (e - kIndexMantissaBits)) & kMask
                           : uint32_t((v << (63 - e)) >> (63 - kIndexMantissaBits)) & kMask;
    const uint32_t c = candidates[(uint32_t(e - e_min) << kIndexMantissaBits) | m];
    return c + uint32_t(v > uppers[c]);
  }
  // The same by binary search over the boundaries: the reference the tests check index() with.
  uint32_t index_by_search(uint64_t v) const {
    v = std::clamp(v, min_value, max_value);
    return uint32_t(std::lower_bound(uppers, uppers + num_buckets, v) - uppers);
  }
  // Smallest value the bucket holds (the range's clamp included).
  uint64_t lower(uint32_t i) const {
    return i == 0 ? 0 : std::max(uppers[i - 1] + 1, min_value);
  }
  // Largest value the bucket holds (inclusive).
  uint64_t upper(uint32_t i) const { return std::min(uppers[i], max_value); }
  // The /stats estimate of a value in bucket i (see "Error bound").
  double midpoint(uint32_t i) const { return (double(lower(i)) + double(upper(i))) / 2.0; }
  int32_t native_index(uint32_t i) const { return first_native + int32_t(i) - 1; }
};

namespace layout_detail {

constexpr int floor_log2(uint64_t v) { return 63 - std::countl_zero(v | 1); }

// 2^(j/64) for j = 0..63, as decimal literals of 30 places: each rounds to the long double
// nearest the true value, i.e. what a correctly rounded exp2l gives. Literals rather than
// a builtin so that any C++20 compiler evaluates the tables at compile time (clang does not
// fold exp2l).
inline constexpr long double kOctaveFractions[kBucketsPerOctave] = {
    1.000000000000000000000000000000L, 1.010889286051700460020409790562L,
    1.021897148654116678234480134783L, 1.033024879021228422500108283970L,
    1.044273782427413840321966478740L, 1.055645178360557158808341325153L,
    1.067140400676823618169521120993L, 1.078760797757119793740680037438L,
    1.090507732665257659207010655761L, 1.102382583307840943556414209426L,
    1.114386742595892536308812956920L, 1.126521618608241899794798643787L,
    1.138788634756691653703830283842L, 1.151189229952982705817759635202L,
    1.163724858777577513813573599092L, 1.176396991650281276284645728484L,
    1.189207115002721066717499970560L, 1.202156731452703142096396957498L,
    1.215247359980468878116520251339L, 1.228480536106870005694008957793L,
    1.241857812073484048593677468727L, 1.255380757024691089579390657442L,
    1.269050957191733222554419081032L, 1.282870016078778280726669781022L,
    1.296839554651009665933754117792L, 1.310961211524764341922991786331L,
    1.325236643159741294629537095499L, 1.339667524053303005360030669724L,
    1.354255546936892728298014740141L, 1.369002422974590611929601132982L,
    1.383909881963831954872659527265L, 1.398979672538311140209528136715L,
    1.414213562373095048801688724210L, 1.429613338391970011235065778275L,
    1.445180806977046620037006241472L, 1.460917794180646988651302890311L,
    1.476826145939499311386907480374L, 1.492907728291264849200643531487L,
    1.509164427593422739766019551033L, 1.525598150744538306851253689517L,
    1.542210825407940823612291862091L, 1.559004400237836967033728089475L,
    1.575980845107886486455270160182L, 1.593142151342266897937248643119L,
    1.610490331949254308179520667357L, 1.628027421857347766848218522014L,
    1.645755478153964844518756724726L, 1.663676580326736435046336456976L,
    1.681792830507429086062250952466L, 1.700106353718523469501362573498L,
    1.718619298122477915629344376456L, 1.737333835273706248994202081872L,
    1.756252160373299483112160619375L, 1.775376492526521252550559200199L,
    1.794709075003107186427703242128L, 1.814252175500398756249834600362L,
    1.834008086409342463487083189588L, 1.853979125083385568392453070338L,
    1.874167634110299901329998949954L, 1.894575981586965641340218653427L,
    1.915206561397147293872611270296L, 1.936061793492294450598055904567L,
    1.957144124175400269018322251627L, 1.978456026387950968258249918131L,
};

// floor(2^(k/64) * per_unit): the largest integer of native bucket k. 2^(k/64) is
// 2^q * 2^(j/64) with k = 64 q + j; scaling by 2^q is exact, so this rounds exactly as
// floor(exp2l(k / 64.0L) * per_unit) with a correctly rounded exp2l.
constexpr uint64_t native_upper(int32_t k, uint64_t per_unit) {
  const int32_t q = k >= 0 ? k / kBucketsPerOctave : -((-k + kBucketsPerOctave - 1) / kBucketsPerOctave);
  const int32_t j = k - q * kBucketsPerOctave;
  long double v = kOctaveFractions[j] * (long double)per_unit;
  for (int32_t i = 0; i < q; ++i) v *= 2;
  for (int32_t i = 0; i > q; --i) v /= 2;
  return uint64_t(v);  // v >= 0: truncation is floor
}
// The native bucket of integer v >= 1.
constexpr int32_t native_index_of(uint64_t v, uint64_t per_unit) {
  auto k = int32_t((floor_log2(v) - floor_log2(per_unit)) * kBucketsPerOctave);
  while (native_upper(k - 1, per_unit) >= v) --k;
  while (native_upper(k, per_unit) < v) ++k;
  return k;
}

// A range's shape: cheap enough to evaluate in every translation unit (a few native_upper
// calls). Its tables (Tables, below) are not: about 10^7 constant-evaluation steps, a
// second and more of compile time wherever they are instantiated, and this header is in 60
// translation units. So they are built once, in histogram.cc, and the layouts point at them.
template <uint64_t kMin, uint64_t kMax, uint64_t kPerUnit>
struct Shape {
  static constexpr int32_t kFirst = native_index_of(kMin > 0 ? kMin : 1, kPerUnit);
  static constexpr int32_t kLast = native_index_of(kMax, kPerUnit);
  static constexpr uint32_t kBuckets = uint32_t(kLast - kFirst + 2);
  static constexpr int kEMin = floor_log2(kMin > 0 ? kMin : 1);
  static constexpr int kEMax = floor_log2(kMax);
  static constexpr size_t kCandidates = size_t(kEMax - kEMin + 1) << kIndexMantissaBits;
  static_assert(kBuckets < 65536, "candidates are uint16_t");
};

using DurationShape = Shape<1'000, 3'600'000'000'000ull, 1'000'000'000>;
using SizeShape = Shape<0, uint64_t{16} << 30, 1>;

// Defined in histogram.cc (constant-initialised there: no start-up order question).
extern const std::array<uint64_t, DurationShape::kBuckets> kDurationUppers;
extern const std::array<uint16_t, DurationShape::kCandidates> kDurationCandidates;
extern const std::array<uint64_t, SizeShape::kBuckets> kSizeUppers;
extern const std::array<uint16_t, SizeShape::kCandidates> kSizeCandidates;

template <typename S>
constexpr HistogramLayout make_layout(uint64_t min_value, uint64_t max_value, double unit,
                                      const uint64_t* uppers, const uint16_t* candidates) {
  return {min_value, max_value, unit, S::kFirst, S::kBuckets, S::kEMin, uppers, candidates};
}

}  // namespace layout_detail

// Durations in nanoseconds, 1 us .. 1 h, exposed in seconds (native buckets -1275 .. 757).
inline constexpr HistogramLayout kDurationLayout =
    layout_detail::make_layout<layout_detail::DurationShape>(
        1'000, 3'600'000'000'000ull, 1e-9, layout_detail::kDurationUppers.data(),
        layout_detail::kDurationCandidates.data());
// Sizes in bytes, 0 .. 16 GiB (native buckets 0 .. 2176 and the zero bucket).
inline constexpr HistogramLayout kSizeLayout = layout_detail::make_layout<layout_detail::SizeShape>(
    0, uint64_t{16} << 30, 1.0, layout_detail::kSizeUppers.data(),
    layout_detail::kSizeCandidates.data());

// Plain (non-atomic) histogram, for aggregates, windows and snapshots. Memory follows use:
// only the range of buckets from the lowest to the highest ever touched is stored (in steps
// of kStep buckets), so a route whose latencies span two octaves keeps ~130 counters, not
// 2034. Addition and subtraction are exact bucket by bucket. max is carried along by add()
// but cannot be subtracted: after subtract() the owner sets it (windows compute it from
// per-slot maxima).
class Histogram {
 public:
  static constexpr uint32_t kStep = 8;  // the stored range grows in steps of this many buckets

  explicit Histogram(const HistogramLayout& layout = kDurationLayout) : layout_(&layout) {}

  void record(uint64_t v, uint64_t n = 1) {
    at(layout_->index(v)) += n;
    count_ += n;
    sum_ += v * n;
    max_ = std::max(max_, v);
  }
  void add(const Histogram& o);
  void subtract(const Histogram& o);
  // Zero counts and totals; the stored range stays (steady state allocates nothing).
  void clear();

  const HistogramLayout& layout() const { return *layout_; }
  // Any bucket index of the layout (0 when not stored).
  uint64_t bucket(uint32_t i) const {
    return i - first_ < counts_.size() ? counts_[i - first_] : 0;
  }
  // The stored range: stored_buckets()[j] is bucket first_bucket() + j; every bucket outside
  // it is 0.
  uint32_t first_bucket() const { return first_; }
  std::span<const uint64_t> stored_buckets() const { return counts_; }
  uint64_t count() const { return count_; }
  uint64_t sum() const { return sum_; }
  uint64_t max() const { return max_; }
  void set_max(uint64_t m) { max_ = m; }
  // Lower bound of the lowest non-empty bucket; 0 when empty.
  uint64_t min() const;
  double mean() const { return count_ ? double(sum_) / double(count_) : 0.0; }

  // q in [0, 1]; 0 when empty. The midpoint of the bucket holding the exact rank-ceil(q*n)
  // sample: within 0.5445 % of it (see "Error bound").
  double quantile(double q) const;
  // Several quantiles in one pass; qs must be ascending.
  void quantiles(std::span<const double> qs, std::span<double> out) const;

  // Raw access for the registry, which builds windows from deltas: bucket i, stored first.
  uint64_t& at(uint32_t i) {
    if (i - first_ >= counts_.size()) store_range(i, i + 1);
    return counts_[i - first_];
  }
  // Makes buckets [lo, hi) stored.
  void store_range(uint32_t lo, uint32_t hi);
  void set_totals(uint64_t count, uint64_t sum) {
    count_ = count;
    sum_ = sum;
  }
  // Heap bytes held (the counters), for memory accounting.
  size_t heap_bytes() const { return counts_.capacity() * sizeof(uint64_t); }

  // Same layout, totals and bucket counts (however much of the range is stored).
  bool operator==(const Histogram& o) const;

 private:
  const HistogramLayout* layout_;
  uint32_t first_ = 0;
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
};

// h's samples per fixed boundary (in h's unit, ascending): out[b] counts the buckets whose
// largest value is <= bounds[b] and > bounds[b - 1]; out[bounds.size()] the rest (+Inf).
// out.size() must be bounds.size() + 1. A bucket that straddles a boundary is counted above
// it, so a sample is never counted under a bound it exceeds (an exchange of 50.1 ms never
// under le="0.05"); one at or below a bound by less than a bucket width (1.09 %) may be
// counted above it. Prometheus's le="b" thus never flatters.
void counts_at_bounds(const Histogram& h, std::span<const uint64_t> bounds,
                      std::span<uint64_t> out);

// Only the non-empty buckets: how one-second slot deltas are kept (most slots touch a
// handful of buckets; 300 dense copies would cost megabytes).
struct SparseHistogram {
  // 8 bytes: a slot holds one per bucket that moved in its second, 300 slots per window.
  struct Entry {
    uint64_t index : 12;  // < 4096 buckets (static_assert below)
    uint64_t count : 52;  // in one second
  };
  static_assert(kDurationLayout.num_buckets <= 4096 && kSizeLayout.num_buckets <= 4096);
  std::vector<Entry> entries;
  uint64_t count = 0;
  uint64_t sum = 0;
  uint64_t max = 0;

  bool empty() const { return count == 0 && sum == 0; }
  void add_to(Histogram& h) const;
  void subtract_from(Histogram& h) const;
};

// Cumulative, written by one thread and read by another. Increments are a relaxed load +
// store (no lock prefix): only the owner writes. Readers see each bucket move monotonically,
// so reading twice and subtracting never loses or double-counts a sample.
// Memory follows use: buckets live in chunks of kChunk counters, allocated by the writer the
// first time one of their buckets is hit and published with release (the reader loads with
// acquire, so it sees the zeroed chunk, never a torn one), reached through pages of kPage
// chunk pointers; a histogram whose values stay within two octaves holds ~5 chunks (1.3 KiB)
// instead of 16 KiB. A chunk is never moved or freed before the histogram.
class AtomicHistogram {
 public:
  static constexpr uint32_t kChunkBits = 5;  // 32 buckets, 256 bytes
  static constexpr uint32_t kChunk = 1u << kChunkBits;
  static constexpr uint32_t kPageBits = 3;  // 8 chunk pointers per page
  static constexpr uint32_t kPage = 1u << kPageBits;
  static constexpr uint32_t kMaxBuckets = std::max(kDurationLayout.num_buckets,
                                                   kSizeLayout.num_buckets);
  static constexpr uint32_t kPages = (kMaxBuckets + kChunk * kPage - 1) / (kChunk * kPage);

  explicit AtomicHistogram(const HistogramLayout& layout = kDurationLayout) : layout_(&layout) {}
  AtomicHistogram(const AtomicHistogram&) = delete;
  AtomicHistogram& operator=(const AtomicHistogram&) = delete;
  ~AtomicHistogram();

  void record(uint64_t v) {
    // Durations (most records) with the layout's constants folded in: no loads of its fields.
    add(layout_ == &kDurationLayout ? kDurationLayout.index(v) : layout_->index(v), v);
  }
  // The same when the caller knows the layout (the shard's histograms): kLayout must be
  // this histogram's; its constants fold into the index computation.
  template <const HistogramLayout& kLayout>
  void record_as(uint64_t v) {
    assert(layout_ == &kLayout);
    add(kLayout.index(v), v);
  }

  const HistogramLayout& layout() const { return *layout_; }
  // Reader side: adds the current cumulative buckets and sum into acc (count = sum of
  // buckets, so count and buckets always agree).
  void read_into(Histogram& acc) const;
  uint64_t sum() const { return sum_.load(std::memory_order_relaxed); }
  // Reader side: max recorded since the previous call (per-slot maximum).
  uint64_t take_max() { return max_.exchange(0, std::memory_order_relaxed); }
  // Reader side: the same, left in place for the next take_max() (a read between takes;
  // 0 when nothing was recorded since the last one). It may trail the buckets by a record:
  // the writer stores the max last.
  uint64_t peek_max() const { return max_.load(std::memory_order_relaxed); }
  // Any thread: bytes held, this object and its pages and chunks.
  size_t memory_bytes() const;

 private:
  struct Chunk {
    std::atomic<uint64_t> counts[kChunk];
  };
  struct Page {
    std::atomic<Chunk*> chunks[kPage];
  };

  void add(uint32_t i, uint64_t v) {
    bump(counter(i), 1);
    bump(sum_, v);
    // Rare after the first samples of a second: the reader resets it once per tick.
    if (v > max_.load(std::memory_order_relaxed)) max_.store(v, std::memory_order_relaxed);
  }
  static void bump(std::atomic<uint64_t>& c, uint64_t d) {
    c.store(c.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
  }
  // Writer only: bucket i's counter. Most records land in the chunk of the previous one
  // (a chunk spans half an octave), kept at hand; otherwise through the page, which
  // allocates the page and chunk on first use.
  std::atomic<uint64_t>& counter(uint32_t i) {
    if (i >> kChunkBits != last_chunk_index_) [[unlikely]] {
      last_chunk_ = chunk_of(i);
      last_chunk_index_ = i >> kChunkBits;
    }
    return last_chunk_->counts[i & (kChunk - 1)];
  }
  Chunk* chunk_of(uint32_t i) {
    Page* page = pages_[i >> (kChunkBits + kPageBits)].load(std::memory_order_relaxed);
    if (page == nullptr) [[unlikely]] page = add_page(i >> (kChunkBits + kPageBits));
    std::atomic<Chunk*>& slot = page->chunks[(i >> kChunkBits) & (kPage - 1)];
    Chunk* chunk = slot.load(std::memory_order_relaxed);
    if (chunk == nullptr) [[unlikely]] chunk = add_chunk(slot);
    return chunk;
  }
  Page* add_page(uint32_t p);
  static Chunk* add_chunk(std::atomic<Chunk*>& slot);

  const HistogramLayout* layout_;
  std::array<std::atomic<Page*>, kPages> pages_{};
  std::atomic<uint64_t> sum_{0};
  std::atomic<uint64_t> max_{0};
  // Writer only (the reader goes through pages_): the chunk counter() used last.
  Chunk* last_chunk_ = nullptr;
  uint32_t last_chunk_index_ = ~0u;
};

}  // namespace sidemeter::metrics
