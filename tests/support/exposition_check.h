#pragma once
// A checker for the Prometheus text format 0.0.4 and OpenMetrics 1.0 as produced by
// /metrics: every line must be a HELP, TYPE or sample line of the current family (or the
// final "# EOF" in OpenMetrics), label values validly escaped, histograms cumulative with a
// +Inf bucket equal to _count. Samples are kept so tests can look values up.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sidemeter::testing {

struct ExpositionSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // unescaped, in order
  double value = 0;
  std::string label(std::string_view name) const;
};

struct ExpositionCheck {
  std::vector<std::string> errors;           // empty when the text is valid
  std::map<std::string, std::string> types;  // family -> type
  std::vector<ExpositionSample> samples;

  // The first sample called `name` carrying all of `labels` (others may be there too);
  // nullptr if there is none.
  const ExpositionSample* find(
      std::string_view name,
      const std::vector<std::pair<std::string, std::string>>& labels = {}) const;
  // The value of that sample.
  std::optional<double> value(std::string_view name,
                              std::vector<std::pair<std::string, std::string>> labels = {}) const;
  // The sum over every sample called `name` carrying all of `labels` (0 if none does).
  double sum(std::string_view name,
             const std::vector<std::pair<std::string, std::string>>& labels = {}) const;
  size_t count(std::string_view name) const;
};

ExpositionCheck check_exposition(std::string_view text, bool openmetrics);

}  // namespace sidemeter::testing
