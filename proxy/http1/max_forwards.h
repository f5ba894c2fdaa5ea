#pragma once
// Max-Forwards (RFC 9110 §7.6.2): how many more intermediaries an OPTIONS or TRACE request
// may pass. A proxy that receives 0 is the final recipient and answers itself; any other
// value is decremented when forwarded. Other methods are forwarded untouched (a recipient
// MAY ignore the field for them, and we do).
//
// The grammar is 1*DIGIT. The RFC does not say what to do with anything else; we refuse
// it (400, reason invalid_max_forwards), as Apache's mod_proxy does: forwarding it
// untouched would let the request loop, and guessing a number is guessing. That covers a
// list ("1, 2"), a sign, spaces inside, an empty value, and several Max-Forwards fields
// (two counts for one hop: which one is meant?).
#include <string>
#include <string_view>

#include "proxy/http1/message.h"

namespace sidemeter::http {

enum class MaxForwards : uint8_t {
  kAbsent,    // no Max-Forwards field: forward as usual
  kZero,      // 0 (or 00...): answer here
  kPositive,  // forward with the value decremented (append_decremented)
  kInvalid,   // not exactly one field of 1*DIGIT
};

// The request's Max-Forwards; `value` is the field's value (OWS trimmed) unless kAbsent.
MaxForwards read_max_forwards(const MessageHead& req, std::string_view& value);

// Appends `digits` (1*DIGIT, not all zeros, any length: no overflow) minus one, without
// leading zeros ("10" -> "9", "007" -> "6", "100000000000000000000" -> "99999999999999999999").
void append_decremented(std::string& out, std::string_view digits);

}  // namespace sidemeter::http
