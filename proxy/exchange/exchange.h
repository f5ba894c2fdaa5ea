#pragma once
// One request/response, whatever protocol the client speaks: its timeline (the
// metrics::ExchangeSample, recorded exactly once when the exchange ends, whichever way),
// its upstream attempt and the one retry a stale pooled connection allows, and the local
// answers (502/504/408/4xx as a status and a reason; the codec writes the bytes).
// It never sees the client's wire format: it talks to its codec through DownstreamStream
// (proxy/exchange/downstream_stream.h, which also states the order of calls and who
// frees what) and to the upstream as its UpstreamObserver.
//
// The codec embeds it and calls begin() for each request; nothing is allocated per
// request.
#include <cstdint>
#include <optional>
#include <string_view>

#include "metrics/exchange_sample.h"
#include "proxy/config_snapshot.h"
#include "proxy/exchange/downstream_stream.h"
#include "proxy/upstream/upstream_connection.h"

namespace sidemeter {

class Worker;

class Exchange final : public UpstreamObserver {
 public:
  Exchange(Worker& worker, DownstreamStream& stream) : worker_(worker), stream_(stream) {}
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // --- from the codec.
  // The first byte of a request arrived. `snapshot` and `peer` belong to the codec and
  // must not change until the exchange ends.
  void begin(const ConfigSnapshotPtr& snapshot, const DownstreamPeer& peer);
  // The request head; starts the upstream attempt. kPause when it was answered at once.
  RequestFlow on_request_head(const http::MessageHead& head);
  // A decoded piece of the request body (pieces after an early answer are dropped).
  RequestFlow on_request_body(std::string_view data);
  // The request is complete; `body_wire_bytes` as it arrived, framing included.
  void on_request_complete(uint64_t body_wire_bytes);
  // End of a batch of request bytes: what was batched for the upstream goes out.
  void on_request_read_done();
  // The request broke the codec's rules: answered with `status` (and `reason`, a static
  // counter label), or reset if a response already started. `method` when the codec
  // knows it before a complete head.
  void on_request_rejected(uint16_t status, const char* reason,
                           std::optional<http::Method> method);
  // The codec's request timer fired (header or body deadline).
  void on_request_timed_out();
  // The client is gone or broken; records the exchange. The codec closes right after.
  void on_downstream_lost(StreamLoss where);
  // Every byte queued toward the client is written: the upstream may be read again.
  void on_downstream_drained();
  // The response's last byte is written: the exchange ends here and is recorded.
  void on_response_written();
  // The codec is closing or lingering: the upstream is let go, the sample recorded if it
  // was not yet. Safe to call when no exchange is in flight.
  void on_downstream_closing();
  // Tunnel, client → upstream. kGone: no upstream left (the codec closes).
  SendResult on_tunnel_data(std::string_view data);
  // The client half-closed the tunnel; false when there is no upstream to tell.
  bool on_tunnel_eof();

  // --- UpstreamObserver
  void on_upstream_connected() override;
  http::SinkAction on_upstream_head(const http::MessageHead& head) override;
  http::SinkAction on_upstream_body(std::string_view data) override;
  http::SinkAction on_upstream_complete() override;
  void on_upstream_read_done() override;
  void on_upstream_failed(metrics::UpstreamError error) override;
  void on_upstream_drained() override;
  void on_upstream_tunnel_data(std::string_view data) override;
  void on_upstream_tunnel_eof() override;

 private:
  // Bodies up to this size make a response head wait for them (on_upstream_read_done):
  // beyond it the head's own write is a small share of the response's cost, and a client
  // of a big download may want the head (its length) early.
  static constexpr uint64_t kHeadWaitMaxBody = 64 * 1024;

  bool start_upstream(bool allow_pool);
  void send_request_head();
  // Upstream batch, then the codec's. kGone: the exchange ended on the way.
  net::Alive flush();
  net::Alive flush_request();  // the upstream batch only
  net::Alive upstream_failed(metrics::UpstreamError error);
  // Always ends the exchange's part: the caller returns after it.
  void respond_locally(uint16_t status, std::string_view detail, bool close);
  void respond_locally(const http::LocalResponse& response, bool close);
  // OPTIONS / TRACE (RFC 9110 §7.6.2): kPause when the request was answered here (its
  // Max-Forwards is 0 and it has a body, or the field is invalid); sets
  // max_forwards_answer_ when the answer waits for the end of the request.
  RequestFlow apply_max_forwards(const http::MessageHead& head);
  void answer_as_final_recipient(bool close);
  void reset_downstream(metrics::DownstreamError error);
  void note_request_written(UpstreamConnection::RequestWrite w);
  void mark_request_sent();
  void mark_last_byte_written();
  void note_response_bytes();
  void capture_for_access_log(const http::MessageHead& head);
  void record();
  void abandon_upstream();
  uint64_t now() const;
  const ConfigSnapshot& snapshot() const { return **snapshot_; }

  Worker& worker_;
  DownstreamStream& stream_;
  const ConfigSnapshotPtr* snapshot_ = nullptr;  // the codec's, fixed while in flight
  const DownstreamPeer* peer_ = nullptr;
  UpstreamConnection* up_ = nullptr;  // the attempt in progress; null when none
  const http::MessageHead* req_ = nullptr;  // null until the head is complete
  metrics::ExchangeSample sample_;
  http::Method method_ = http::Method::kGet;
  bool in_flight_ = false;  // begun and not recorded yet
  bool request_chunked_ = false;
  bool request_has_body_ = false;
  bool request_complete_ = false;
  bool response_head_sent_ = false;
  bool response_complete_ = false;
  bool upgrade_requested_ = false;
  bool tunnel_ = false;  // a 101 was forwarded: bytes both ways
  // The response head is buffered and not written yet: it came without any of its short
  // Content-Length body, which goes out with it (on_upstream_read_done says why).
  bool head_waits_for_body_ = false;
  bool decrement_max_forwards_ = false;  // forwarded OPTIONS/TRACE with Max-Forwards >= 1
  // OPTIONS/TRACE with Max-Forwards: 0 and no body: answered here once it is complete (at
  // the end of the read batch), so the connection can stay open.
  bool max_forwards_answer_ = false;
};

}  // namespace sidemeter
