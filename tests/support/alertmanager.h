#pragma once
// A real Prometheus Alertmanager (Debian prometheus-alertmanager) for the delivery tests:
// started on a free loopback port with a receiver that drops everything, a temporary
// storage dir, no clustering; stopped and cleaned up on destruction.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "tests/support/json_value.h"

namespace sidemeter::testing {

class Alertmanager {
 public:
  static constexpr const char* kBinary = "/usr/bin/prometheus-alertmanager";
  static bool installed();

  Alertmanager();
  ~Alertmanager();
  Alertmanager(const Alertmanager&) = delete;
  Alertmanager& operator=(const Alertmanager&) = delete;

  bool started() const { return pid_ > 0; }
  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Polls /-/ready until it answers 200, the process exits, or 30 s pass.
  bool wait_ready();
  std::string log() const;

  // GET /api/v2/alerts (?active=true): `answered` once it answered 200 with a JSON array;
  // `alert` is the one whose alertname is `name`, if listed.
  struct Listing {
    bool answered = false;
    std::optional<JsonValue> alert;
  };
  Listing listed(const std::string& name, bool active_only) const;

 private:
  std::string dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace sidemeter::testing
