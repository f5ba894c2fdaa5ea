#pragma once
#include <optional>
#include <string>
#include <vector>

namespace sidemeter::conf {

// The candidate closest to a misspelt `word` (transpositions count as one edit, case is
// ignored), if it is close enough to be the likely intent.
std::optional<std::string> did_you_mean(const std::string& word,
                                        const std::vector<std::string>& candidates);

}  // namespace sidemeter::conf
