#pragma once
// The forwarding serializer before the field token table (see serialize_reference.cc).
#include <string>

#include "proxy/http1/parser.h"

namespace sidemeter::http::reference {

void append_forward_request_head(const MessageHead& req, const ForwardRequestContext& ctx,
                                 std::string& out);
void append_forward_response_head(const MessageHead& resp, const ForwardResponseContext& ctx,
                                  std::string& out);

}  // namespace sidemeter::http::reference
