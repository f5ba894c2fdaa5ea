#include "tests/support/alertmanager.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

#include "tests/support/http_message.h"
#include "tests/support/raw_client.h"
#include "tests/support/socket.h"

extern char** environ;

namespace sidemeter::testing {
namespace {

using namespace std::chrono_literals;

std::optional<HttpMessage> http_get(uint16_t port, const std::string& target) {
  RawClient c(port);
  HttpMessage m;
  if (!c.connected() ||
      !c.exchange("GET " + target + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", m).ok())
    return std::nullopt;
  return m;
}

}  // namespace

bool Alertmanager::installed() { return ::access(kBinary, X_OK) == 0; }

Alertmanager::Alertmanager() {
  char tmpl[] = "/tmp/sidemeter-am-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return;
  dir_ = tmpl;
  std::ofstream(dir_ + "/alertmanager.yml")
      << "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n";
  // Alertmanager cannot be told to bind port 0 and report it: take a port the kernel
  // just handed out and released.
  port_ = refused_port();
  std::vector<std::string> args = {
      kBinary,
      "--web.listen-address=127.0.0.1:" + std::to_string(port_),
      "--cluster.listen-address=",
      "--storage.path=" + dir_ + "/data",
      "--config.file=" + dir_ + "/alertmanager.yml",
      "--log.level=warn",
  };
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const std::string log = dir_ + "/alertmanager.log";
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  if (posix_spawn(&pid_, kBinary, &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&fa);
}

Alertmanager::~Alertmanager() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(20ms);  // polling a child's exit
    }
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

bool Alertmanager::wait_ready() {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    auto r = http_get(port_, "/-/ready");
    if (r && r->status == 200) return true;
    std::this_thread::sleep_for(50ms);  // polling another process
  }
  return false;
}

std::string Alertmanager::log() const {
  std::ifstream f(dir_ + "/alertmanager.log");
  return std::string(std::istreambuf_iterator<char>(f), {});
}

Alertmanager::Listing Alertmanager::listed(const std::string& name, bool active_only) const {
  Listing out;
  auto r = http_get(port_, active_only ? "/api/v2/alerts?active=true" : "/api/v2/alerts");
  if (!r || r->status != 200) return out;
  auto doc = parse_json(r->body);
  if (!doc || !doc->is_array()) return out;
  out.answered = true;
  for (const JsonValue& a : doc->array) {
    const JsonValue* n = a.at("labels.alertname");
    if (n != nullptr && n->string == name) out.alert = a;
  }
  return out;
}

}  // namespace sidemeter::testing
