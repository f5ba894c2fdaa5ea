#include "proxy/alerts/http_post.h"

#include <netdb.h>
#include <strings.h>

#include <cstring>
#include <string>

#include "proxy/text/json_writer.h"

namespace sidemeter::alerts {
namespace {

constexpr size_t kMaxResponse = 64 * 1024;

// Host header value: brackets back around an IPv6 literal.
std::string host_header(const conf::HttpUrl& url) {
  std::string h;
  if (url.host.find(':') != std::string::npos) {
    h = "[" + url.host + "]";
  } else {
    h = url.host;
  }
  h += ':';
  text::append_uint(h, url.port);
  return h;
}

}  // namespace

std::string_view post_result_kind_name(PostResult::Kind k) {
  switch (k) {
    case PostResult::Kind::kHttp: return "http";
    case PostResult::Kind::kResolve: return "resolve";
    case PostResult::Kind::kConnect: return "connect";
    case PostResult::Kind::kTimeout: return "timeout";
    case PostResult::Kind::kIo: return "io";
    case PostResult::Kind::kBadResponse: return "bad_response";
  }
  return "unknown";
}

HttpPost* HttpPost::start(uv_loop_t* loop, const conf::HttpUrl& url, std::string target,
                          std::string_view body, uint64_t timeout_ms, Done done) {
  auto* p = new HttpPost();
  p->loop_ = loop;
  p->url_ = url;
  p->timeout_ms_ = timeout_ms == 0 ? 1 : timeout_ms;
  p->done_ = std::move(done);
  std::string& r = p->request_;
  r.reserve(body.size() + 256);
  r += "POST ";
  r += target.empty() ? std::string("/") : target;
  r += " HTTP/1.1\r\nHost: ";
  r += host_header(url);
  r += "\r\nUser-Agent: sidemeter/" SIDEMETER_VERSION "\r\nContent-Type: application/json\r\n"
       "Content-Length: ";
  text::append_uint(r, body.size());
  r += "\r\nConnection: close\r\n\r\n";
  r += body;
  p->begin();
  return p;
}

void HttpPost::begin() {
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  handles_.hold();
  uv_timer_start(&timer_, [](uv_timer_t* t) {
    auto* self = static_cast<HttpPost*>(t->data);
    if (self->finished_) return;
    // An answer whose status line came but whose body did not finish still counts.
    if (self->status_ != 0) {
      self->finish({PostResult::Kind::kHttp, self->status_, {}});
    } else {
      self->finish({PostResult::Kind::kTimeout, 0, {}});
    }
  }, timeout_ms_, 0);

  // Numeric hosts connect at once; names go through the resolver (thread pool).
  struct sockaddr_storage addr;
  std::memset(&addr, 0, sizeof addr);
  if (uv_ip4_addr(url_.host.c_str(), url_.port, reinterpret_cast<sockaddr_in*>(&addr)) == 0 ||
      uv_ip6_addr(url_.host.c_str(), url_.port, reinterpret_cast<sockaddr_in6*>(&addr)) == 0) {
    connect_to(reinterpret_cast<const sockaddr*>(&addr));
    return;
  }
  struct addrinfo hints;
  std::memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  resolve_.data = this;
  std::string port = std::to_string(url_.port);
  int rc = uv_getaddrinfo(loop_, &resolve_, [](uv_getaddrinfo_t* req, int status,
                                               struct addrinfo* res) {
    auto* self = static_cast<HttpPost*>(req->data);
    self->resolving_ = false;
    if (!self->finished_) {
      if (status != 0 || res == nullptr) {
        self->finish({PostResult::Kind::kResolve, 0,
                      status != 0 ? uv_err_name(status) : "no address"});
      } else {
        // One address is tried: the first IPv4 one if any ("localhost" often lists ::1
        // first while receivers listen on 127.0.0.1), else the first.
        const struct addrinfo* pick = res;
        for (const struct addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
          if (ai->ai_family == AF_INET) {
            pick = ai;
            break;
          }
        }
        self->connect_to(pick->ai_addr);
      }
    }
    if (res != nullptr) uv_freeaddrinfo(res);
    self->release();
  }, url_.host.c_str(), port.c_str(), &hints);
  if (rc != 0) {
    // Reported from the loop, never from start(): fire the timer now with this result.
    status_ = 0;
    uv_timer_start(&timer_, [](uv_timer_t* t) {
      auto* self = static_cast<HttpPost*>(t->data);
      if (!self->finished_) self->finish({PostResult::Kind::kResolve, 0, "resolver refused"});
    }, 0, 0);
    return;
  }
  resolving_ = true;
  handles_.hold();
}

void HttpPost::connect_to(const struct sockaddr* addr) {
  uv_tcp_init(loop_, &tcp_);
  tcp_.data = this;
  tcp_open_ = true;
  handles_.hold();
  connect_req_.data = this;
  int rc = uv_tcp_connect(&connect_req_, &tcp_, addr, [](uv_connect_t* req, int status) {
    auto* self = static_cast<HttpPost*>(req->data);
    if (self->finished_) return;  // ECANCELED from our own close
    if (status != 0) {
      self->finish({PostResult::Kind::kConnect, 0, uv_err_name(status)});
      return;
    }
    uv_buf_t buf = uv_buf_init(self->request_.data(), unsigned(self->request_.size()));
    self->write_req_.data = self;
    auto* stream = reinterpret_cast<uv_stream_t*>(&self->tcp_);
    int wrc = uv_write(&self->write_req_, stream, &buf, 1, [](uv_write_t* w, int st) {
      auto* s = static_cast<HttpPost*>(w->data);
      if (st != 0 && !s->finished_) s->finish({PostResult::Kind::kIo, 0, uv_err_name(st)});
    });
    if (wrc != 0) {
      self->finish({PostResult::Kind::kIo, 0, uv_err_name(wrc)});
      return;
    }
    int rrc = uv_read_start(
        stream,
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
          auto* s = static_cast<HttpPost*>(h->data);
          *b = uv_buf_init(s->read_buf_, sizeof s->read_buf_);
        },
        [](uv_stream_t* st, ssize_t n, const uv_buf_t* b) {
          static_cast<HttpPost*>(st->data)->on_read(n, b);
        });
    if (rrc != 0) self->finish({PostResult::Kind::kIo, 0, uv_err_name(rrc)});
  });
  if (rc != 0) {
    // Deferred to the loop like every other outcome.
    uv_timer_start(&timer_, [](uv_timer_t* t) {
      auto* self = static_cast<HttpPost*>(t->data);
      if (!self->finished_) self->finish({PostResult::Kind::kConnect, 0, "connect refused to start"});
    }, 0, 0);
  }
}

void HttpPost::on_read(ssize_t nread, const uv_buf_t* buf) {
  if (finished_) return;
  if (nread > 0) {
    response_.append(buf->base, size_t(nread));
    if (answer_complete()) return;
    if (response_.size() > kMaxResponse) {
      if (status_ != 0) {
        finish({PostResult::Kind::kHttp, status_, {}});
      } else {
        finish({PostResult::Kind::kBadResponse, 0, "no status line in 64 KiB"});
      }
    }
    return;
  }
  if (nread == 0) return;
  // EOF or an error: whatever status line came is the answer.
  if (status_ == 0) answer_complete();
  if (finished_) return;
  if (status_ != 0) {
    finish({PostResult::Kind::kHttp, status_, {}});
  } else {
    finish({PostResult::Kind::kIo, 0,
            nread == UV_EOF ? "closed before a status line" : uv_err_name(int(nread))});
  }
}

bool HttpPost::answer_complete() {
  if (status_ == 0) {
    size_t eol = response_.find("\r\n");
    if (eol == std::string::npos) return false;
    // "HTTP/1.1 200 OK"
    std::string_view line(response_.data(), eol);
    if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ' ||
        line[9] < '1' || line[9] > '5' || line[10] < '0' || line[10] > '9' ||
        line[11] < '0' || line[11] > '9' || (line.size() > 12 && line[12] != ' ')) {
      finish({PostResult::Kind::kBadResponse, 0, "not an HTTP/1.x status line"});
      return true;
    }
    status_ = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  }
  if (body_start_ == 0) {
    size_t end = response_.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    body_start_ = end + 4;
    // Content-Length, case-insensitively, if the answer has one.
    size_t pos = response_.find("\r\n");
    while (pos < end) {
      size_t next = response_.find("\r\n", pos + 2);
      std::string_view h(response_.data() + pos + 2, next - pos - 2);
      constexpr std::string_view kName = "content-length:";
      if (h.size() > kName.size() && strncasecmp(h.data(), kName.data(), kName.size()) == 0) {
        int64_t v = 0;
        bool digits = false;
        for (char c : h.substr(kName.size())) {
          if (c >= '0' && c <= '9') {
            v = v * 10 + (c - '0');
            digits = true;
            if (v > int64_t(kMaxResponse)) break;
          }
        }
        if (digits) content_length_ = v;
      }
      pos = next;
    }
  }
  if (content_length_ >= 0 && response_.size() - body_start_ >= size_t(content_length_)) {
    finish({PostResult::Kind::kHttp, status_, {}});
    return true;
  }
  return false;
}

void HttpPost::finish(PostResult result) {
  finished_ = true;
  auto on_closed = [](uv_handle_t* h) { static_cast<HttpPost*>(h->data)->release(); };
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_closed);
  if (tcp_open_) uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_closed);
  // A lookup still running calls back later (UV_EAI_CANCELED if it had not started).
  if (resolving_) uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_));
  Done done = std::move(done_);
  done_ = nullptr;
  if (done) done(result);
}

void HttpPost::cancel() {
  if (finished_) return;
  done_ = nullptr;
  finish({PostResult::Kind::kIo, 0, "cancelled"});
}

void HttpPost::release() {
  if (handles_.release()) delete this;
}

}  // namespace sidemeter::alerts
