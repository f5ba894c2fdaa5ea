// libFuzzer target: the PROXY protocol header parser (proxy/net/proxy_protocol.h).
//
// Option byte: bits 0-1 the versions accepted (1: v1, 2: v2, else any). Byte 1 cuts the
// bytes into reads for HeaderReader (fuzz_support.h).
//
// Invariants:
//  - never reads past the input (ASan), never a header longer than the bounds (v1: 107
//    bytes ending in CRLF; any: kMaxHeaderBytes); a non-local result has an IPv4/IPv6
//    source; need-more only below the bound;
//  - prefix-consistent: every prefix of the input is need-more until the first one that
//    decides, and what it decides (done with that length and address, or that error) is
//    the whole input's answer — bytes after a header never change it;
//  - HeaderReader fed in reads gives the same answer, and `rest` is exactly the bytes of
//    the deciding read that follow the header;
//  - the versions agree: a header done under v1 or v2 is done the same under any; under
//    any, a v1/v2 header is refused by the other version as "version".
#include <cstdint>
#include <string>

#include "proxy/net/proxy_protocol.h"
#include "tests/fuzz/fuzz_support.h"

namespace sidemeter::fuzz {
namespace {

namespace pp = net::proxy_protocol;

std::string describe(const pp::Result& r) {
  std::string s = r.status == pp::Status::kNeedMore ? "need-more"
                  : r.status == pp::Status::kDone   ? "done"
                                                    : "error";
  if (r.status == pp::Status::kError) s += std::string(" ") + std::string(pp::error_name(r.error)) + " (" + r.detail + ")";
  if (r.status == pp::Status::kDone) {
    s += " v" + std::to_string(r.version) + " " + std::to_string(r.header_bytes) + " bytes";
    s += r.local ? " local" : " from " + r.source.ip() + ":" + std::to_string(r.source.port());
  }
  return s;
}

bool same(const pp::Result& a, const pp::Result& b) {
  if (a.status != b.status) return false;
  if (a.status == pp::Status::kError) return a.error == b.error;
  if (a.status == pp::Status::kNeedMore) return true;
  return a.header_bytes == b.header_bytes && a.version == b.version && a.local == b.local &&
         a.source.ip() == b.source.ip() && a.source.port() == b.source.port();
}

void check_shape(std::string_view data, const pp::Result& r) {
  switch (r.status) {
    case pp::Status::kNeedMore:
      FUZZ_CHECK(data.size() < pp::kMaxHeaderBytes, "need-more at " + std::to_string(data.size()));
      break;
    case pp::Status::kDone:
      FUZZ_CHECK(r.header_bytes > 0 && r.header_bytes <= data.size() &&
                     r.header_bytes <= pp::kMaxHeaderBytes,
                 describe(r));
      FUZZ_CHECK(r.version == 1 || r.version == 2, describe(r));
      if (r.version == 1) {
        FUZZ_CHECK(r.header_bytes <= pp::kMaxV1Bytes &&
                       data.substr(r.header_bytes - 2, 2) == "\r\n" &&
                       data.substr(0, r.header_bytes - 2).find('\n') == std::string_view::npos,
                   describe(r) + " " + escaped(data.substr(0, r.header_bytes)));
      } else {
        FUZZ_CHECK(r.header_bytes >= pp::kV2FixedBytes &&
                       data.substr(0, 12) == pp::kV2Signature,
                   describe(r));
      }
      if (!r.local) {
        const int family = r.source.storage.ss_family;
        FUZZ_CHECK(r.source.valid() && (family == AF_INET || family == AF_INET6), describe(r));
      }
      break;
    case pp::Status::kError:
      FUZZ_CHECK(r.error != pp::Error::kNone && r.detail != nullptr && r.detail[0] != '\0',
                 describe(r));
      break;
  }
}

void run(std::string_view data, pp::Accept accept, uint8_t split_seed) {
  const pp::Result whole = pp::parse(data, accept);
  check_shape(data, whole);

  // The first prefix that decides decides for the whole input.
  const size_t limit = std::min(data.size(), pp::kMaxHeaderBytes + 1);
  for (size_t n = 0; n <= limit; ++n) {
    const pp::Result p = pp::parse(data.substr(0, n), accept);
    if (p.status == pp::Status::kNeedMore) continue;
    FUZZ_CHECK(same(p, whole), "prefix of " + std::to_string(n) + ": " + describe(p) +
                                   "; whole: " + describe(whole));
    break;
  }

  // In reads, through HeaderReader.
  pp::HeaderReader reader(accept);
  size_t offset = 0;
  pp::Result last;
  for (size_t piece : read_sizes(data.size(), split_seed)) {
    std::string_view rest;
    last = reader.feed(data.substr(offset, piece), rest);
    if (last.status == pp::Status::kDone) {
      FUZZ_CHECK(last.header_bytes >= offset && last.header_bytes <= offset + piece,
                 describe(last));
      FUZZ_CHECK(rest == data.substr(last.header_bytes, offset + piece - last.header_bytes),
                 "rest " + escaped(rest));
    } else {
      FUZZ_CHECK(rest.empty(), "rest without a header");
    }
    offset += piece;
    if (last.status != pp::Status::kNeedMore) break;
  }
  FUZZ_CHECK(same(last, whole), "in reads: " + describe(last) + "; whole: " + describe(whole));

  if (accept != pp::Accept::kAny && whole.status == pp::Status::kDone) {
    FUZZ_CHECK(same(pp::parse(data, pp::Accept::kAny), whole), describe(whole));
  }
  if (accept == pp::Accept::kAny && whole.status == pp::Status::kDone) {
    const pp::Accept other = whole.version == 1 ? pp::Accept::kV2 : pp::Accept::kV1;
    const pp::Result r = pp::parse(data, other);
    FUZZ_CHECK(r.status == pp::Status::kError && r.error == pp::Error::kVersion, describe(r));
  }
}

}  // namespace
}  // namespace sidemeter::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace pp = sidemeter::net::proxy_protocol;
  sidemeter::fuzz::FuzzInput in;
  if (!sidemeter::fuzz::take_options(data, size, in)) return 0;
  const unsigned v = in.options & 3;
  const pp::Accept accept = v == 1 ? pp::Accept::kV1 : v == 2 ? pp::Accept::kV2 : pp::Accept::kAny;
  sidemeter::fuzz::run(in.bytes, accept, in.split_seed);
  return 0;
}
