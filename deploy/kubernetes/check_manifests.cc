// Offline checks of the manifests (no cluster, no Docker needed): every file parses as
// YAML with apiVersion/kind/metadata.name, the ConfigMap's sidemeter.yaml passes
// sidemeter's own loader (which refuses unknown keys), and the numbers that must agree
// across files do: grace period > drain_timeout, app preStop >= drain_delay, probe and
// scrape ports = the stats port. Writes the PrometheusRule's spec to argv[1] for promtool.
// Built and run by check_manifests.sh.
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "conf/config.h"

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

YAML::Node find_container(const YAML::Node& deployment, const std::string& name) {
  for (const auto& c : deployment["spec"]["template"]["spec"]["containers"])
    if (c["name"].as<std::string>() == name) return c;
  return YAML::Node();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s RULES_OUT FILE.yaml...\n", argv[0]);
    return 2;
  }
  std::map<std::string, YAML::Node> by_kind;
  for (int i = 2; i < argc; ++i) {
    std::vector<YAML::Node> docs;
    try {
      docs = YAML::LoadAllFromFile(argv[i]);
    } catch (const YAML::Exception& e) {
      check(false, std::string(argv[i]) + ": " + e.what());
      continue;
    }
    for (const auto& d : docs) {
      bool ok = d.IsMap() && d["apiVersion"] && d["kind"];
      if (ok && d["kind"].as<std::string>() != "Kustomization")
        ok = d["metadata"] && d["metadata"]["name"];
      check(ok, std::string(argv[i]) + ": parses, has apiVersion/kind/metadata.name");
      if (ok) by_kind[d["kind"].as<std::string>()] = d;
    }
  }
  for (const char* kind : {"ConfigMap", "Deployment", "Service", "PodMonitor", "PrometheusRule"})
    check(by_kind.count(kind) == 1, std::string("has a ") + kind);
  if (failures) return 1;

  // The embedded config, through the real loader, with an empty environment (so every
  // ${VAR} needs a default).
  std::string path = std::string(argv[1]) + ".sidemeter.yaml";
  std::ofstream(path) << by_kind["ConfigMap"]["data"]["sidemeter.yaml"].as<std::string>();
  sidemeter::conf::CommandLine cli;
  cli.config_path = path;
  sidemeter::conf::LoadResult loaded =
      sidemeter::conf::load(cli, [](std::string_view) { return std::optional<std::string>(); });
  for (const std::string& e : loaded.errors) check(false, "sidemeter.yaml: " + e);
  if (!loaded.config) return 1;
  check(true, "sidemeter.yaml loads with sidemeter's config loader");
  const sidemeter::conf::Config& cfg = *loaded.config;
  check(cfg.upstream.address == sidemeter::conf::HostPort{"127.0.0.1", 8000},
        "upstream is the app on 127.0.0.1:8000");
  check(cfg.listen.port == 8080 && cfg.stats.address.port == 9901, "listen :8080, stats :9901");

  const YAML::Node& dep = by_kind["Deployment"];
  auto grace = dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].as<uint64_t>();
  check(grace * 1000 > cfg.timeouts.drain_timeout_ms,
        "terminationGracePeriodSeconds > drain_timeout");
  YAML::Node app = find_container(dep, "app");
  YAML::Node sm = find_container(dep, "sidemeter");
  check(app.IsMap() && sm.IsMap(), "containers app and sidemeter exist");
  if (failures) return 1;
  auto pre_stop = app["lifecycle"]["preStop"]["sleep"]["seconds"].as<uint64_t>();
  check(pre_stop * 1000 >= cfg.timeouts.drain_delay_ms, "app preStop sleep >= drain_delay");
  check(pre_stop < grace, "app preStop sleep < terminationGracePeriodSeconds");
  std::map<std::string, int> ports;
  for (const auto& p : sm["ports"])
    ports[p["name"].as<std::string>()] = p["containerPort"].as<int>();
  check(ports["stats"] == cfg.stats.address.port && ports["http"] == cfg.listen.port,
        "container ports match listen/stats");
  check(sm["readinessProbe"]["httpGet"]["path"].as<std::string>() == "/readyz" &&
            sm["readinessProbe"]["httpGet"]["port"].as<std::string>() == "stats",
        "readiness probe: /readyz on the stats port");
  check(sm["livenessProbe"]["httpGet"]["path"].as<std::string>() == "/healthz" &&
            sm["livenessProbe"]["httpGet"]["port"].as<std::string>() == "stats",
        "liveness probe: /healthz on the stats port");
  const YAML::Node& ann = dep["spec"]["template"]["metadata"]["annotations"];
  check(ann["prometheus.io/scrape"].as<std::string>() == "true" &&
            ann["prometheus.io/port"].as<std::string>() == std::to_string(cfg.stats.address.port),
        "prometheus.io annotations point at the stats port");
  check(
      by_kind["PodMonitor"]["spec"]["podMetricsEndpoints"][0]["port"].as<std::string>() == "stats",
      "PodMonitor scrapes the stats port");
  check(by_kind["Service"]["spec"]["ports"][0]["targetPort"].as<std::string>() == "http",
        "Service targets sidemeter's http port");
  auto labels = dep["spec"]["template"]["metadata"]["labels"];
  auto selector = by_kind["Service"]["spec"]["selector"];
  bool selects = true;
  for (const auto& kv : selector)
    selects = selects && labels[kv.first.as<std::string>()] &&
              labels[kv.first.as<std::string>()].as<std::string>() == kv.second.as<std::string>();
  check(selects, "Service selector matches the pod labels");

  YAML::Emitter out;
  out << by_kind["PrometheusRule"]["spec"];
  std::ofstream(argv[1]) << out.c_str() << "\n";
  return failures ? 1 : 0;
}
