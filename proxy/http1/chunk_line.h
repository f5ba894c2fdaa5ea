#pragma once
// The chunk-size line of the chunked transfer coding (RFC 9112 §7.1, §7.1.1):
//
//   chunk-size [ chunk-ext ] CRLF
//   chunk-size     = 1*HEXDIG
//   chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//   chunk-ext-name = token
//   chunk-ext-val  = token / quoted-string
//
// read incrementally (a line may arrive split at any byte) without buffering it. We
// recognize no extension, and a recipient MUST ignore the ones it does not recognize
// (§7.1.1), so extensions are checked against the grammar and dropped: only the size is
// kept, and the body is re-framed without them. Bytes outside the grammar are refused
// rather than guessed at (a bare LF or CR, whitespace after the size with no ';' after
// it, an empty name or value, a CTL or an unescaped '"' in a quoted value): a line two
// parsers could split differently is how chunked bodies smuggle requests.
//
// Limits: the size is at most INT64_MAX (a signed 64-bit reader upstream must read the
// same number; leading zeros cost only CPU, one byte at a time). The extensions of one
// line, from the first byte after the size to the CR, are at most kMaxExtensionBytes.
#include <cstddef>
#include <cstdint>

namespace sidemeter::http {

class ChunkLineScanner {
 public:
  static constexpr uint32_t kMaxExtensionBytes = 4096;
  static constexpr uint64_t kMaxSize = static_cast<uint64_t>(INT64_MAX);

  enum class Status : uint8_t {
    kMore,               // every byte given was consumed; the line goes on
    kDone,               // the line ended (its LF consumed); size() holds the chunk size
    kInvalid,            // the byte at consumed - 1 breaks the grammar or the size limit
    kExtensionsTooLong,  // more than kMaxExtensionBytes of extensions
  };
  struct Result {
    Status status;
    size_t consumed;  // bytes of p[0, n) read, up to and including the deciding one
  };

  // Reads the line on from p[0, n). After kDone, call reset() before the next line;
  // after kInvalid / kExtensionsTooLong the line is lost (the message cannot go on).
  Result feed(const char* p, size_t n);

  // The length of a whole plain line at p[0, n): 1 to 15 hex digits then CRLF (no
  // extension, at most 2^60 - 1, so within kMaxSize); 0 when p does not start with one.
  // Such a line reads the same to any chunked parser, llhttp included.
  static size_t plain_line_length(const char* p, size_t n, uint64_t& size);
  uint64_t size() const { return size_; }
  bool fresh() const { return state_ == State::kFirstDigit; }  // no byte of a line read yet
  void reset() {
    state_ = State::kFirstDigit;
    size_ = 0;
    extension_bytes_ = 0;
  }

 private:
  // In line order; every state from kBwsBeforeSemicolon to kAfterQuoted is inside chunk-ext.
  enum class State : uint8_t {
    kFirstDigit,
    kDigits,
    kBwsBeforeSemicolon,  // OWS after the size or a value: only ';' may follow
    kAfterSemicolon,      // BWS, then a name
    kName,
    kAfterName,           // BWS after a name: '=' or ';'
    kAfterEquals,         // BWS, then a token or a quoted string
    kTokenValue,
    kQuoted,
    kQuotedPair,          // after '\' inside a quoted string
    kAfterQuoted,
    kLf,                  // the CR was read
  };

  State state_ = State::kFirstDigit;
  uint64_t size_ = 0;
  uint32_t extension_bytes_ = 0;
};

}  // namespace sidemeter::http
