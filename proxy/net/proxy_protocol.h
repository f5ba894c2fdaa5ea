#pragma once
// The PROXY protocol header a load balancer sends before anything else on a connection
// (HAProxy's proxy-protocol.txt, versions 1 and 2), parsed from the bytes read so far.
// No libuv, no allocation: the caller keeps the bytes (at most kMaxHeaderBytes) and
// calls parse() again with more; it always re-reads from the start, which costs nothing
// at these sizes and keeps the parser stateless (byte-at-a-time feeding gives the same
// answer as one read).
//
// What it accepts (everything else is an error, and the connection must be aborted:
// proxy-protocol.txt §2.1 "Any sequence which does not exactly match the protocol must
// be discarded and cause the receiver to abort the connection"):
//   v1 (§2.1): "PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n", single spaces, IPv4
//      dotted quads without leading zeros, IPv6 as inet_pton reads it (family as
//      announced), ports 0-65535 without leading zeros; "PROXY UNKNOWN<anything>\r\n";
//      at most 107 bytes including CRLF; a lone CR or LF is an error.
//   v2 (§2.2): the 12-byte signature, version 2, command LOCAL or PROXY; family/protocol
//      0x11 (TCP/IPv4) and 0x21 (TCP/IPv6) give the source; 0x00, UDP and UNIX fall back
//      to the connection's own addresses (§2.2: "falls back to the UNSPEC mode"); other
//      values are errors. The address block must be as long as the family needs; the TLVs
//      after it (§2.2.x) are skipped, each checked to fit. Total length at most
//      kMaxHeaderBytes (ours: the spec allows 16 + 65535, real balancers send < 300).
// LOCAL (health checks of the balancer itself), UNKNOWN and the fall-back families are
// `local`: the client address stays the TCP peer's.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/net/socket_address.h"

namespace sidemeter::net::proxy_protocol {

// Which versions a listener requires (config `proxy_protocol`).
enum class Accept : uint8_t { kV1 = 1, kV2 = 2, kAny = 3 };

inline constexpr size_t kMaxV1Bytes = 107;     // §2.1, CRLF included
inline constexpr size_t kV2FixedBytes = 16;    // signature, ver_cmd, fam, len
inline constexpr size_t kMaxHeaderBytes = 4096;
inline constexpr std::string_view kV2Signature{"\r\n\r\n\0\r\nQUIT\n", 12};

enum class Status : uint8_t {
  kNeedMore,  // everything so far can start a valid header: read on
  kDone,
  kError,
};

// Why a header was refused. Truncation and timeouts are the caller's to judge (the parser
// only ever says kNeedMore for a prefix of something valid).
enum class Error : uint8_t {
  kNone,
  kMissing,    // the bytes do not start like any PROXY header (e.g. an HTTP request)
  kMalformed,  // started like one, then broke the grammar (or over the length bound)
  kVersion,    // a valid start of the version the listener does not accept, or v2's
               // version nibble other than 2
};

struct Result {
  Status status = Status::kNeedMore;
  Error error = Error::kNone;
  const char* detail = "";   // kError: a short reason for logs (static string)
  size_t header_bytes = 0;   // kDone: the header's length; the bytes after it are payload
  uint8_t version = 0;       // kDone: 1 or 2
  bool local = false;        // kDone: keep the TCP peer as the client address
  SocketAddress source;      // kDone && !local: the original client's address and port
};

// `data`: every byte received on the connection so far (only the first kMaxHeaderBytes
// matter). Never reads past data.size().
Result parse(std::string_view data, Accept accept);

std::string_view error_name(Error e);  // "missing", "malformed", "version"

// One connection's header, across reads. The first read usually holds the whole header
// and is parsed where it lies; only a header split across reads is copied (at most
// kMaxHeaderBytes, freed with the reader).
class HeaderReader {
 public:
  explicit HeaderReader(Accept accept) : accept_(accept) {}
  // `chunk`: the next bytes read. On kDone, `rest` is what of `chunk` follows the header:
  // the client's first payload bytes, which the caller must not lose.
  Result feed(std::string_view chunk, std::string_view& rest);
  // Some bytes of a header arrived (an end of stream now is a truncation, not a
  // connection that never spoke).
  bool started() const { return started_; }

 private:
  Accept accept_;
  bool started_ = false;
  std::string buffered_;
};

}  // namespace sidemeter::net::proxy_protocol
