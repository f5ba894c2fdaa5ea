#include "proxy/net/proxy_protocol.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace sidemeter::net::proxy_protocol {
namespace {

constexpr std::string_view kV1Prefix = "PROXY ";

Result error(Error e, const char* detail) {
  Result r;
  r.status = Status::kError;
  r.error = e;
  r.detail = detail;
  return r;
}

// True when `data` and `sig` agree on their common length.
bool agrees(std::string_view data, std::string_view sig) {
  const size_t n = std::min(data.size(), sig.size());
  return data.substr(0, n) == sig.substr(0, n);
}

// 0-65535, decimal, no leading zero (§2.1).
bool parse_port(std::string_view s, uint16_t& out) {
  if (s.empty() || s.size() > 5) return false;
  if (s.size() > 1 && s[0] == '0') return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + uint32_t(c - '0');
  }
  if (v > 65535) return false;
  out = uint16_t(v);
  return true;
}

// inet_pton reads the canonical forms §2.1 asks for; for IPv4 it also refuses leading
// zeros and anything but four parts (glibc's inet_pton4).
bool parse_ip(std::string_view s, int family, void* out) {
  char buf[64];
  if (s.empty() || s.size() >= sizeof buf) return false;
  memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  return inet_pton(family, buf, out) == 1;
}

Result parse_v1(std::string_view data) {
  // Scan what we have of the line: printable ASCII, ended by CRLF within 107 bytes. A bad
  // byte aborts now rather than after the line (§2.1: "as soon as possible").
  const size_t scan = std::min(data.size(), kMaxV1Bytes);
  size_t line_end = std::string_view::npos;  // index of the CR of CRLF
  for (size_t i = kV1Prefix.size(); i < scan; ++i) {
    const unsigned char c = static_cast<unsigned char>(data[i]);
    if (c == '\r') {
      if (i + 1 >= data.size()) break;  // the LF may come next
      if (data[i + 1] != '\n') return error(Error::kMalformed, "v1: CR without LF");
      if (i + 1 >= kMaxV1Bytes) break;  // the LF would be byte 108
      line_end = i;
      break;
    }
    if (c == '\n') return error(Error::kMalformed, "v1: LF without CR");
    if (c < 0x20 || c > 0x7e) return error(Error::kMalformed, "v1: a byte outside printable ASCII");
  }
  if (line_end == std::string_view::npos) {
    if (data.size() >= kMaxV1Bytes) return error(Error::kMalformed, "v1: no CRLF within 107 bytes");
    return Result{};
  }
  const std::string_view line = data.substr(kV1Prefix.size(), line_end - kV1Prefix.size());
  Result r;
  r.status = Status::kDone;
  r.version = 1;
  r.header_bytes = line_end + 2;
  // UNKNOWN: the receiver ignores whatever follows up to CRLF (§2.1).
  if (line.substr(0, 7) == "UNKNOWN" && (line.size() == 7 || line[7] == ' ')) {
    r.local = true;
    return r;
  }
  int family = 0;
  if (line.substr(0, 5) == "TCP4 ") {
    family = AF_INET;
  } else if (line.substr(0, 5) == "TCP6 ") {
    family = AF_INET6;
  } else {
    return error(Error::kMalformed, "v1: protocol is not TCP4, TCP6 or UNKNOWN");
  }
  // Exactly four fields after the protocol, separated by exactly one space.
  std::string_view fields[4];
  std::string_view rest = line.substr(5);
  for (int i = 0; i < 4; ++i) {
    const size_t sp = rest.find(' ');
    if (i < 3) {
      if (sp == std::string_view::npos) return error(Error::kMalformed, "v1: too few fields");
      fields[i] = rest.substr(0, sp);
      rest = rest.substr(sp + 1);
    } else {
      if (sp != std::string_view::npos) return error(Error::kMalformed, "v1: too many fields");
      fields[i] = rest;
    }
    if (fields[i].empty()) return error(Error::kMalformed, "v1: empty field (double space)");
  }
  uint16_t sport = 0;
  uint16_t dport = 0;
  if (!parse_port(fields[2], sport) || !parse_port(fields[3], dport))
    return error(Error::kMalformed, "v1: bad port");
  if (family == AF_INET) {
    sockaddr_in src{};
    in_addr dst{};
    if (!parse_ip(fields[0], AF_INET, &src.sin_addr) || !parse_ip(fields[1], AF_INET, &dst))
      return error(Error::kMalformed, "v1: bad IPv4 address");
    src.sin_family = AF_INET;
    src.sin_port = htons(sport);
    r.source = from_sockaddr(reinterpret_cast<const sockaddr*>(&src));
  } else {
    sockaddr_in6 src{};
    in6_addr dst{};
    if (!parse_ip(fields[0], AF_INET6, &src.sin6_addr) || !parse_ip(fields[1], AF_INET6, &dst))
      return error(Error::kMalformed, "v1: bad IPv6 address");
    src.sin6_family = AF_INET6;
    src.sin6_port = htons(sport);
    r.source = from_sockaddr(reinterpret_cast<const sockaddr*>(&src));
  }
  return r;
}

uint16_t be16(const unsigned char* p) { return uint16_t((p[0] << 8) | p[1]); }

Result parse_v2(std::string_view data) {
  const auto* b = reinterpret_cast<const unsigned char*>(data.data());
  // Refuse what is already wrong before waiting for the rest.
  if (data.size() > 12) {
    if ((b[12] >> 4) != 2) return error(Error::kVersion, "v2: version is not 2");
    if ((b[12] & 0x0f) > 1) return error(Error::kMalformed, "v2: command is neither LOCAL nor PROXY");
  }
  if (data.size() > 13 && ((b[13] >> 4) > 3 || (b[13] & 0x0f) > 2))
    return error(Error::kMalformed, "v2: unknown address family or protocol");
  if (data.size() < kV2FixedBytes) return Result{};
  const size_t total = kV2FixedBytes + be16(b + 14);
  if (total > kMaxHeaderBytes) return error(Error::kMalformed, "v2: header longer than 4096 bytes");
  if (data.size() < total) return Result{};

  Result r;
  r.status = Status::kDone;
  r.version = 2;
  r.header_bytes = total;
  const bool local_command = (b[12] & 0x0f) == 0;
  const unsigned family = b[13] >> 4;
  const unsigned protocol = b[13] & 0x0f;
  const size_t len = total - kV2FixedBytes;
  // LOCAL: the family is ignored (§2.2), and so is the block.
  if (local_command) {
    r.local = true;
    return r;
  }
  // UNSPEC family or protocol: no layout to check, the block is skipped as a whole.
  if (family == 0 || protocol == 0) {
    r.local = true;
    return r;
  }
  static constexpr size_t kAddressBytes[4] = {0, 12, 36, 216};
  const size_t addr_len = kAddressBytes[family];
  if (len < addr_len) return error(Error::kMalformed, "v2: address block shorter than its family");
  // TLVs: type, 16-bit length, value; each must fit in what remains (§2.2.x).
  size_t off = kV2FixedBytes + addr_len;
  while (off < total) {
    if (total - off < 3) return error(Error::kMalformed, "v2: truncated TLV");
    const size_t tlv = 3 + size_t(be16(b + off + 1));
    if (tlv > total - off) return error(Error::kMalformed, "v2: TLV longer than the header");
    off += tlv;
  }
  if (protocol != 1 || family == 3) {  // UDP or UNIX: use the connection's own addresses
    r.local = true;
    return r;
  }
  const unsigned char* a = b + kV2FixedBytes;
  if (family == 1) {
    sockaddr_in src{};
    src.sin_family = AF_INET;
    memcpy(&src.sin_addr, a, 4);
    memcpy(&src.sin_port, a + 8, 2);  // both in network order
    r.source = from_sockaddr(reinterpret_cast<const sockaddr*>(&src));
  } else {
    sockaddr_in6 src{};
    src.sin6_family = AF_INET6;
    memcpy(&src.sin6_addr, a, 16);
    memcpy(&src.sin6_port, a + 32, 2);
    r.source = from_sockaddr(reinterpret_cast<const sockaddr*>(&src));
  }
  return r;
}

}  // namespace

Result parse(std::string_view data, Accept accept) {
  if (data.empty()) return Result{};
  const bool v1 = agrees(data, kV1Prefix);
  const bool v2 = agrees(data, kV2Signature);
  if (!v1 && !v2) return error(Error::kMissing, "no PROXY protocol header");
  if (v1) {
    if (data.size() < kV1Prefix.size()) return Result{};
    if (accept == Accept::kV2) return error(Error::kVersion, "v1 header, listener requires v2");
    return parse_v1(data);
  }
  if (data.size() < kV2Signature.size()) return Result{};
  if (accept == Accept::kV1) return error(Error::kVersion, "v2 header, listener requires v1");
  return parse_v2(data);
}

Result HeaderReader::feed(std::string_view chunk, std::string_view& rest) {
  rest = {};
  if (chunk.empty()) return Result{};
  started_ = true;
  if (buffered_.empty()) {
    Result r = parse(chunk, accept_);
    if (r.status == Status::kDone) rest = chunk.substr(r.header_bytes);
    // kNeedMore means a prefix shorter than the bound: what we keep stays small.
    if (r.status == Status::kNeedMore) buffered_.assign(chunk);
    return r;
  }
  const size_t before = buffered_.size();
  const size_t take = std::min(chunk.size(), kMaxHeaderBytes - before);
  buffered_.append(chunk.substr(0, take));
  Result r = parse(buffered_, accept_);
  if (r.status == Status::kDone) {
    rest = chunk.substr(r.header_bytes - before);
    std::string().swap(buffered_);
  }
  return r;
}

std::string_view error_name(Error e) {
  switch (e) {
    case Error::kMissing: return "missing";
    case Error::kMalformed: return "malformed";
    case Error::kVersion: return "version";
    default: return "none";
  }
}

}  // namespace sidemeter::net::proxy_protocol
