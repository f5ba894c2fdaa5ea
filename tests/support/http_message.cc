#include "tests/support/http_message.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace sidemeter::testing {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

ReadResult fail(IoStatus st, std::string why = {}) { return ReadResult{st, std::move(why)}; }

// Parses header lines of `block` (which excludes the start line and the final CRLF).
bool parse_fields(std::string_view block, std::vector<Header>& out, std::string& err) {
  while (!block.empty()) {
    size_t eol = block.find("\r\n");
    std::string_view line = block.substr(0, eol);
    block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 2);
    if (line.empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      err = "bad header line: " + std::string(line);
      return false;
    }
    out.push_back({std::string(line.substr(0, colon)), std::string(trim(line.substr(colon + 1)))});
  }
  return true;
}

ReadResult read_head(Socket& s, HttpMessage& m, const ReadOptions& o, std::string& start_line) {
  size_t pos = 0;
  IoStatus st = s.fill_until("\r\n\r\n", o.deadline, &pos);
  if (st != IoStatus::kOk) return fail(st, "head incomplete, have: " + s.buffer().substr(0, 200));
  m.head_raw = s.take(pos + 4);
  std::string_view head(m.head_raw);
  size_t eol = head.find("\r\n");
  start_line = std::string(head.substr(0, eol));
  std::string err;
  m.headers.clear();
  if (!parse_fields(head.substr(eol + 2, head.size() - eol - 4), m.headers, err)) {
    return fail(IoStatus::kError, err);
  }
  return {};
}

void deliver(HttpMessage& m, const ReadOptions& o, std::string_view data) {
  m.body_bytes += data.size();
  if (o.body_sink) {
    o.body_sink(data);
  } else {
    m.body.append(data);
  }
}

ReadResult read_fixed(Socket& s, HttpMessage& m, const ReadOptions& o, uint64_t left) {
  while (left > 0) {
    if (s.buffer().empty()) {
      IoStatus st = s.fill(o.deadline);
      if (st != IoStatus::kOk) {
        return fail(st, "body short by " + std::to_string(left) + " bytes");
      }
    }
    size_t n = static_cast<size_t>(std::min<uint64_t>(left, s.buffer().size()));
    deliver(m, o, std::string_view(s.buffer()).substr(0, n));
    s.buffer().erase(0, n);
    left -= n;
  }
  return {};
}

ReadResult read_chunked(Socket& s, HttpMessage& m, const ReadOptions& o) {
  for (;;) {
    size_t pos = 0;
    IoStatus st = s.fill_until("\r\n", o.deadline, &pos);
    if (st != IoStatus::kOk) return fail(st, "chunk size line incomplete");
    std::string line = s.take(pos + 2);
    char* end = nullptr;
    uint64_t size = std::strtoull(line.c_str(), &end, 16);
    if (end == line.c_str()) return fail(IoStatus::kError, "bad chunk size: " + line);
    if (size == 0) break;
    ReadResult r = read_fixed(s, m, o, size);
    if (!r.ok()) return r;
    st = s.fill_to(2, o.deadline);
    if (st != IoStatus::kOk) return fail(st, "chunk CRLF missing");
    if (s.take(2) != "\r\n") return fail(IoStatus::kError, "chunk data not followed by CRLF");
  }
  // Trailer section ends with an empty line.
  for (;;) {
    size_t pos = 0;
    IoStatus st = s.fill_until("\r\n", o.deadline, &pos);
    if (st != IoStatus::kOk) return fail(st, "trailers incomplete");
    std::string line = s.take(pos + 2);
    if (line == "\r\n") return {};
    std::string err;
    if (!parse_fields(line, m.trailers, err)) return fail(IoStatus::kError, err);
  }
}

ReadResult read_to_close(Socket& s, HttpMessage& m, const ReadOptions& o) {
  for (;;) {
    if (!s.buffer().empty()) {
      deliver(m, o, s.buffer());
      s.buffer().clear();
    }
    IoStatus st = s.fill(o.deadline);
    if (st == IoStatus::kClosed) {
      deliver(m, o, s.buffer());
      s.buffer().clear();
      return {};
    }
    if (st != IoStatus::kOk) return fail(st, "close-delimited body interrupted");
  }
}

bool is_chunked(const HttpMessage& m) {
  auto te = m.header("transfer-encoding");
  if (!te) return false;
  std::string v = *te;
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  return v.size() >= 7 && v.compare(v.size() - 7, 7, "chunked") == 0;
}

ReadResult read_body(Socket& s, HttpMessage& m, const ReadOptions& o, bool close_allowed) {
  m.body.clear();
  m.body_bytes = 0;
  if (is_chunked(m)) {
    m.framing = BodyFraming::kChunked;
    return read_chunked(s, m, o);
  }
  if (auto cl = m.header("content-length")) {
    m.framing = BodyFraming::kContentLength;
    return read_fixed(s, m, o, std::strtoull(cl->c_str(), nullptr, 10));
  }
  if (close_allowed) {
    m.framing = BodyFraming::kClose;
    return read_to_close(s, m, o);
  }
  m.framing = BodyFraming::kNone;
  return {};
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

std::optional<std::string> HttpMessage::header(std::string_view name) const {
  for (const Header& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return std::nullopt;
}

size_t HttpMessage::header_count(std::string_view name) const {
  return static_cast<size_t>(std::count_if(headers.begin(), headers.end(),
                                           [&](const Header& h) { return iequals(h.name, name); }));
}

bool HttpMessage::has_token(std::string_view name, std::string_view token) const {
  for (const Header& h : headers) {
    if (!iequals(h.name, name)) continue;
    std::string_view v(h.value);
    while (!v.empty()) {
      size_t comma = v.find(',');
      if (iequals(trim(v.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return false;
}

ReadResult read_request(Socket& s, HttpMessage& m, const ReadOptions& o) {
  m = HttpMessage{};
  std::string start;
  ReadResult r = read_head(s, m, o, start);
  if (!r.ok()) return r;
  size_t sp1 = start.find(' ');
  size_t sp2 = start.rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1) return fail(IoStatus::kError, "bad request line");
  m.method = start.substr(0, sp1);
  m.target = start.substr(sp1 + 1, sp2 - sp1 - 1);
  m.version = start.substr(sp2 + 1);
  if (o.head_only) return {};
  return read_body(s, m, o, /*close_allowed=*/false);
}

ReadResult read_request_body(Socket& s, HttpMessage& m, const ReadOptions& o) {
  return read_body(s, m, o, /*close_allowed=*/false);
}

ReadResult read_response(Socket& s, HttpMessage& m, const ReadOptions& o) {
  m = HttpMessage{};
  for (;;) {
    std::vector<int> interim = std::move(m.interim);
    m = HttpMessage{};
    m.interim = std::move(interim);
    std::string start;
    ReadResult r = read_head(s, m, o, start);
    if (!r.ok()) return r;
    // "HTTP/1.1 200 OK" — reason may be empty or contain spaces.
    size_t sp1 = start.find(' ');
    if (sp1 == std::string::npos || start.size() < sp1 + 4) {
      return fail(IoStatus::kError, "bad status line: " + start);
    }
    m.version = start.substr(0, sp1);
    m.status = std::atoi(start.c_str() + sp1 + 1);
    m.reason = start.size() > sp1 + 5 ? start.substr(sp1 + 5) : "";
    if (m.status >= 100 && m.status < 200 && m.status != 101) {
      if (o.stop_at_interim) return {};
      m.interim.push_back(m.status);
      continue;
    }
    if (o.response_to_head || m.status == 101 || m.status == 204 || m.status == 304) {
      m.framing = BodyFraming::kNone;
      return {};
    }
    return read_body(s, m, o, /*close_allowed=*/true);
  }
}

std::string make_response(int status, std::string_view reason, std::string_view body,
                          const std::vector<Header>& extra) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  for (const Header& h : extra) out += h.name + ": " + h.value + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  out.append(body);
  return out;
}

void fill_pattern(uint64_t offset, char* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    uint64_t x = offset + i;
    dst[i] = static_cast<char>((x * 0x9E3779B1u) >> 24 ^ (x >> 16));
  }
}

void Checksum::update(std::string_view data) {
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  bytes += data.size();
}

}  // namespace sidemeter::testing
