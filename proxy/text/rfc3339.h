#pragma once
// Times written for people and for receivers that parse them (Alertmanager's startsAt,
// the access log, /stats): RFC 3339 in UTC with milliseconds, "2026-11-29T19:24:38.123Z".
#include <cstdint>
#include <string>

namespace sidemeter::text {

void append_rfc3339_ms(std::string& out, uint64_t unix_ms);
// The wall clock now, as Unix milliseconds (CLOCK_REALTIME).
uint64_t unix_now_ms();

}  // namespace sidemeter::text
