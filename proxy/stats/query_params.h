#pragma once
// Query-string lookups for the stats endpoints ("?window=1m&route=%2Fusers%2F%7Bid%7D").
#include <string>
#include <string_view>

namespace sidemeter::stats {

enum class QueryStatus { kAbsent, kFound, kMalformed };

// Finds the first `name` parameter in the query of `target` (the part after '?', up to a
// '#') and percent-decodes its value ('+' is a space) into `value`. A bad %-escape in
// that value is kMalformed.
QueryStatus query_param(std::string_view target, std::string_view name, std::string& value);

}  // namespace sidemeter::stats
