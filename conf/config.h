#pragma once
// The whole runtime configuration as plain, immutable data: one snapshot per load.
// Loading is read → interpolate ${VAR} / ${VAR:-default} → parse YAML → validate every
// key → apply command-line flags → one std::shared_ptr<const Config>. Nothing is applied
// until the whole file is valid; every error is reported at once as FILE:LINE:COL.
// Only conf/*.cc sees yaml-cpp. Durations are milliseconds, sizes bytes.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "conf/cidr.h"
#include "metrics/alerts/spec.h"
#include "metrics/counters.h"
#include "metrics/duration_bounds.h"

namespace sidemeter::conf {

struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string to_string() const;  // "host:port", "[v6]:port"
  bool operator==(const HostPort&) const = default;
};

struct Limits {
  uint32_t max_request_line_bytes = 8 * 1024;
  uint32_t max_header_bytes = 64 * 1024;     // whole header section
  uint32_t max_headers = 100;                // header lines
  uint64_t max_request_body_bytes = 0;       // 0 = unlimited (413 above)
  uint32_t max_connections = 20000;          // downstream, whole process (503 above)
  bool operator==(const Limits&) const = default;
};

struct Timeouts {  // milliseconds
  uint64_t request_header_ms = 10'000;
  uint64_t upstream_connect_ms = 5'000;
  uint64_t upstream_response_ms = 60'000;
  uint64_t downstream_idle_ms = 60'000;
  // Shorter than common backends' keep-alive (Node 5 s, Go 90 s, nginx 75 s) so we
  // close pooled connections before the backend does.
  uint64_t upstream_idle_ms = 4'000;
  uint64_t tunnel_idle_ms = 300'000;
  uint64_t drain_delay_ms = 1'000;
  uint64_t drain_timeout_ms = 30'000;
  bool operator==(const Timeouts&) const = default;
};

// TLS versions offered and accepted (TLS 1.0 and 1.1 never: RFC 8996).
enum class TlsVersion : uint8_t { k1_2, k1_3 };
std::string_view tls_version_name(TlsVersion v);  // "TLSv1.2", "TLSv1.3" (OpenSSL's spelling)

// One certificate chain and its private key, both PEM files. The first certificate in
// `certificate_file` is the leaf; the rest of that file is its chain.
struct TlsCertificate {
  std::string certificate_file;
  std::string private_key_file;
  bool operator==(const TlsCertificate&) const = default;
};

enum class ClientCertificate : uint8_t { kNone, kOptional, kRequired };

// Downstream: the listener terminates TLS when `certificates` is not empty. With several,
// SNI picks the one whose names (subjectAltName DNS entries, exact or "*.example.com"
// wildcard of one label) match; a client without SNI, or with an unknown name, gets the
// first. Everything here reloads (SIGHUP, POST /reload, and when a file changes on disk);
// connections keep the certificate they were accepted with.
struct DownstreamTls {
  std::vector<TlsCertificate> certificates;
  bool enabled() const { return !certificates.empty(); }
  TlsVersion min_version = TlsVersion::k1_2;
  // TLS 1.2 ciphers (OpenSSL cipher list) and TLS 1.3 suites: Mozilla's "intermediate"
  // policy, forward secret AEAD only.
  std::string ciphers =
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
      "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
  std::string ciphersuites =
      "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
  ClientCertificate client_certificate = ClientCertificate::kNone;  // mTLS
  std::string client_ca_file;  // required unless client_certificate is none
  bool session_tickets = true;
  // A new ticket key this often; tickets under the previous two keys still resume.
  uint64_t session_ticket_rotation_ms = 3'600'000;
  uint32_t session_cache_size = 20'480;  // server-side session cache entries; 0 = off
  uint64_t handshake_timeout_ms = 10'000;
  bool operator==(const DownstreamTls&) const = default;
};

// Upstream: originate TLS to the application when `enabled`.
struct UpstreamTls {
  bool enabled = false;
  std::string ca_file;      // "" = the system store
  std::string server_name;  // SNI and the name verified; "" = upstream.address's host
                            // (no SNI for an IP address, which is then verified as an IP)
  bool verify = true;       // false: accept any certificate (logged as a warning at load)
  TlsCertificate client_certificate;  // both files empty: none (else mTLS to the application)
  TlsVersion min_version = TlsVersion::k1_2;
  bool session_resumption = true;  // new pool connections resume an earlier session
  bool operator==(const UpstreamTls&) const = default;
};

struct Upstream {
  HostPort address{"127.0.0.1", 8000};
  // Pooled keep-alive connections per worker. A connection that comes back to a full pool
  // is closed, so with more requests in flight than this, connections are opened and
  // closed all the time (measured at 1,000 client connections with the old default of
  // 128: 0.6 upstream connects per request). Idle ones age out after upstream_idle_ms.
  uint32_t max_idle_per_worker = 1024;
  uint64_t resolve_interval_ms = 10'000;  // 0 = resolve once at start
  // While the upstream is unreachable, a TCP connect every this often (readiness).
  uint64_t probe_interval_ms = 2'000;
  // Resend an idempotent request without a body, once, on a fresh connection, when a
  // pooled connection turns out to have been closed by the backend before it saw it.
  bool retry_on_stale_connection = true;
  UpstreamTls tls;
  bool operator==(const Upstream&) const = default;
};

struct StatsD {
  HostPort address;                 // port 0: no push sink
  uint32_t interval_s = 10;
  bool dogstatsd_tags = true;       // "flavor: dogstatsd" (|#k:v) or "statsd" (in names)
  std::string prefix = "sidemeter.";
  bool operator==(const StatsD&) const = default;
};

// Classic-bucket bounds (seconds, ascending, "le") of the request duration histograms in
// the text formats. Counts at any bound are taken at scrape time from each series'
// full-resolution histogram, so a reload may change them; keep them equal in every pod so
// the series aggregate. An empty list: no buckets but +Inf (_count and _sum remain).
struct HistogramBuckets {
  // sidemeter_request_duration_seconds: one service-wide series set.
  std::vector<double> request_duration{metrics::kRequestDurationBounds.begin(),
                                       metrics::kRequestDurationBounds.end()};
  // http_server_request_duration_seconds: per route, method, status code and error type.
  std::vector<double> route_request_duration{metrics::kRouteRequestDurationBounds.begin(),
                                             metrics::kRouteRequestDurationBounds.end()};
  bool operator==(const HistogramBuckets&) const = default;
};

struct Stats {
  HostPort address{"127.0.0.1", 9901};
  // Bearer token for every stats endpoint but /healthz and /readyz; empty: none. Comes
  // from `token` (usually `${VAR}`) or is read from `token_file` at each load, so a
  // rotated Kubernetes secret applies on reload. A secret: --print-config redacts it.
  std::string token;
  std::string token_file;  // where `token` came from, "" if inline
  uint32_t stream_interval_s = 1;
  uint32_t max_connections = 1024;
  uint64_t idle_timeout_ms = 30'000;
  StatsD statsd;
  HistogramBuckets histogram_buckets;
  bool operator==(const Stats&) const = default;
};

struct Routes {
  // "/users/{id}/orders": literal segments match exactly, {name} any one segment, a final
  // {*} any rest. First match wins; they win over automatic templating.
  std::vector<std::string> patterns;
  // Automatic routes kept at once (patterns come on top, at most as many again); a
  // template not admitted, or finding no room, is "other".
  uint32_t max = 100;
  // A new automatic template is admitted once answered 2xx/304, or seen admission_hits
  // times within admission_window_s; a full table evicts the least recently hit route
  // idle for at least eviction_min_idle_s (metrics::RouteAdmission).
  uint32_t admission_hits = 5;
  uint32_t admission_window_s = 60;
  uint32_t eviction_min_idle_s = 300;
  bool operator==(const Routes&) const = default;
};

// An http:// URL an alert receiver listens on (alert delivery does not speak TLS).
struct HttpUrl {
  std::string host;  // name or address, brackets stripped from IPv6
  uint16_t port = 80;
  std::string path = "/";  // with the query, if any; never empty
  std::string to_string() const;  // "http://host:port/path"
  bool operator==(const HttpUrl&) const = default;
};
HttpUrl parse_http_url(const std::string& text);  // throws ConfigError

struct AlertDelivery {
  // Prometheus Alertmanager base URLs (API v2: POST <url>/api/v2/alerts); several for an
  // HA pair, each gets every alert.
  std::vector<HttpUrl> alertmanager_urls;
  // Generic receivers: each state change is POSTed as one JSON object.
  std::vector<HttpUrl> webhook_urls;
  uint64_t resend_interval_ms = 60'000;  // firing alerts re-sent this often (Prometheus: 1m)
  uint64_t timeout_ms = 10'000;          // one delivery attempt, connect to answer
  uint32_t queue_max = 1'000;            // undelivered messages per receiver; beyond: oldest dropped
  bool operator==(const AlertDelivery&) const = default;
};

struct Alerts {
  // The escalation guide: avg latency 500 ms / 1 s, error rate 1 % / 5 %, CPU 80 % / 95 %
  // (window 1m, for 30s); certificate expiry below 14 / 3 days (for 0s). A rule in `rules` with the same name replaces a default one.
  bool default_rules = true;
  std::vector<metrics::alerts::RuleSpec> rules;
  // Added to every alert sent (pod, namespace, ...), in file order; keys are label names.
  std::vector<std::pair<std::string, std::string>> labels;
  AlertDelivery delivery;
  bool operator==(const Alerts&) const = default;
};

struct AccessLog {
  std::string path;           // "" = off; "stderr" = standard error; else a file, appended
  double sample_rate = 1.0;   // share 0-1 of ordinary exchanges written
  bool always_log_errors = true;  // failed exchanges (errors) are written whatever the sampling
  uint64_t slow_ms = 0;       // > 0: exchanges at least this slow are always written
  bool include_query = false; // the query string is dropped unless this is set
  uint32_t queue_max_bytes = 4 * 1024 * 1024;  // per worker, lines waiting for the writer
  bool operator==(const AccessLog&) const = default;
};

// Whether the listener requires a PROXY protocol header (HAProxy's proxy-protocol.txt)
// before anything else, and of which version. Reloads: a connection keeps the setting it
// was accepted with.
enum class ProxyProtocol : uint8_t { kOff, kV1, kV2, kAny };
std::string_view proxy_protocol_name(ProxyProtocol p);  // "off", "v1", "v2", "any"

struct Config {
  HostPort listen{"0.0.0.0", 8080};
  DownstreamTls tls;  // the listener's TLS (off: plain HTTP)
  ProxyProtocol proxy_protocol = ProxyProtocol::kOff;
  // Clients (judged by their address after the PROXY protocol) whose X-Forwarded-For and
  // Forwarded are kept and appended to; anyone else's are replaced. Empty: nobody.
  std::vector<Cidr> trusted_proxies;
  uint32_t workers = 0;  // 0 = the cgroup CPU quota rounded up, else the affinity mask
  bool demo = false;     // --demo: built-in demo backend and traffic (upstream ignored)
  Upstream upstream;
  Timeouts timeouts;
  Limits limits;
  Stats stats;
  Routes routes;
  Alerts alerts;
  std::vector<metrics::alerts::SloSpec> slos;
  AccessLog access_log;
  // received-by in the Via field added to every forwarded request and response (RFC 9110
  // §7.6.3: pseudonym [":" port], pseudonym a token): "1.1 sidemeter".
  std::string via_pseudonym = "sidemeter";
  bool measure = true;  // off only for benchmarking the cost of measuring

  std::string source_path;  // the file it was loaded from, "" if none
  // 16 hex digits of SHA-256 over the effective config (secrets included, so a rotated
  // token changes it; the hash reveals nothing usable about them).
  std::string hash;
};

// Flags and file errors that are not positional ("--workers: expected ...").
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

HostPort parse_host_port(const std::string& text);  // throws ConfigError
// "250ms", "10s", "5m", "1h"; throws ConfigError on a bad unit or overflow.
uint64_t parse_duration_ms(const std::string& text);

enum class CliAction { kRun, kCheckConfig, kPrintConfig, kHelp, kVersion };

// What the command line said. Flags override the file, on every (re)load.
struct CommandLine {
  CliAction action = CliAction::kRun;
  std::string config_path;  // --config FILE, or --check-config FILE
  std::optional<HostPort> listen;
  std::optional<HostPort> upstream;
  std::optional<HostPort> stats;
  std::optional<uint32_t> workers;
  bool demo = false;
};
CommandLine parse_command_line(int argc, const char* const* argv);  // throws ConfigError
std::string usage_text();

// ${VAR} lookup; tests inject their own.
using Environment = std::function<std::optional<std::string>(std::string_view name)>;
Environment process_environment();

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when errors is not empty
  std::vector<std::string> errors;       // every error, each "FILE:LINE:COL: message"
  // Where each key that was set came from, as an error prefix ("FILE:LINE:COL: ",
  // "--listen: "); item keys indexed ("tls.certificates[1].certificate_file").
  std::map<std::string, std::string> where;
};
LoadResult load(const CommandLine& cli, const Environment& env = process_environment());
// A problem found after loading that starts with the key it is about ("tls.ciphers: ...")
// with that key's position in front (or its nearest parent's, else the file's name).
std::string place_problem(const std::map<std::string, std::string>& where,
                          const std::string& source_path, const std::string& problem);

// The effective config as YAML, in the schema's shape, secrets shown as "<redacted>".
std::string print_config(const Config& config);

// Keys whose change needs a restart ("listen", "workers", "stats.address", "routes.max",
// "measure", "demo").
std::vector<std::string> restart_only_changes(const Config& running, const Config& loaded);

// What a reload puts in force: `loaded` with the restart-only keys still as `running` has
// them, and its hash recomputed, so config_hash always names the configuration that runs.
Config keep_restart_only_keys(const Config& running, const Config& loaded);

// Added after the first draft of this header:

// Every key of the YAML schema as a dotted path ("upstream.address"), in schema order;
// the loader is built from the same table, so documentation checks can rely on it.
std::vector<std::string> schema_keys();

}  // namespace sidemeter::conf
