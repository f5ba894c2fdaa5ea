#pragma once
// Proactive content negotiation on the Accept header (RFC 9110 §12.5.1), for the few media
// types a stats endpoint can answer in. Pure functions on string views; no allocation.
//
//   Accept      = #( media-range [ weight ] )
//   media-range = ( "*/*" / ( type "/" "*" ) / ( type "/" subtype ) ) parameters
//   weight      = OWS ";" OWS "q=" qvalue        (qvalue: 0 to 1, at most 3 decimals)
//
// Each offer takes the q-value of the most specific range that matches it (§12.5.1: a
// specific type beats type/*, which beats */*; more parameters beat fewer). A range matches
// an offer when type and subtype agree (or are "*") and every parameter the range names is
// one the offer has with the same value (names and values compared case-insensitively).
// q=0 means "not acceptable". Among acceptable offers the highest q wins; ties go to the
// more specific matching range, then to the range listed first in the header, then to the
// offer listed first by the server. Malformed elements (no "/", bad qvalue) are ignored.
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

namespace sidemeter::stats {

struct MediaParameter {
  std::string_view name;
  std::string_view value;
};

struct MediaTypeOffer {
  std::string_view type;     // e.g. "application"
  std::string_view subtype;  // e.g. "openmetrics-text"
  std::span<const MediaParameter> parameters;  // those a range may ask for, e.g. version
};

// Index into `offers` (at most kMaxMediaTypeOffers; later ones are never chosen) of the
// one to answer with; no Accept header (empty) accepts anything,
// so offers[0]. std::nullopt: the header accepts none of them (the caller then picks its
// default or answers 406).
inline constexpr size_t kMaxMediaTypeOffers = 8;
std::optional<size_t> negotiate_media_type(std::string_view accept,
                                           std::span<const MediaTypeOffer> offers);

}  // namespace sidemeter::stats
