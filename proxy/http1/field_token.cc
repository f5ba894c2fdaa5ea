#include "proxy/http1/field_token.h"

#include "proxy/http1/field_token_lookup.h"

namespace sidemeter::http {

FieldToken lookup_field_token(std::string_view name) { return lookup_field_token_inline(name); }

}  // namespace sidemeter::http
