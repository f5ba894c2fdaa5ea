// Every message a strict proxy must refuse, one row each with its raw bytes: request
// smuggling vectors (CL/TE, chunk framing, line endings), field syntax, limits.
#include <gtest/gtest.h>

#include <string>

#include "proxy/http1/parser.h"
#include "tests/proxy/http1/recording_sink.h"

namespace sidemeter::http {
namespace {

using testing::run;

struct RejectCase {
  const char* name;
  MessageKind kind;
  std::string raw;
  ParseError error;
  uint16_t status;      // parse_error_info(error).status
  bool head_delivered;  // body errors happen after on_head
};

constexpr auto kReq = MessageKind::kRequest;
constexpr auto kResp = MessageKind::kResponse;

std::string post_chunked(const std::string& body) {
  return "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + body;
}
std::string req_with(const std::string& fields) {
  return "POST / HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n";
}
std::string resp_with(const std::string& fields) { return "HTTP/1.1 200 OK\r\n" + fields + "\r\n"; }

const RejectCase kCases[] = {
    // --- Content-Length / Transfer-Encoding conflicts (RFC 9112 §6.1, §6.3)
    {"cl_then_te", kReq, req_with("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
     ParseError::kContentLengthAndTransferEncoding, 400, false},
    {"te_then_cl", kReq, req_with("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
     ParseError::kContentLengthAndTransferEncoding, 400, false},
    {"cl_and_te_gzip", kReq, req_with("Content-Length: 5\r\nTransfer-Encoding: gzip\r\n"),
     ParseError::kContentLengthAndTransferEncoding, 400, false},
    {"cl_conflicting_fields", kReq, req_with("Content-Length: 5\r\nContent-Length: 6\r\n"),
     ParseError::kInvalidContentLength, 400, false},
    {"cl_conflicting_list", kReq, req_with("Content-Length: 5, 6\r\n"),
     ParseError::kInvalidContentLength, 400, false},
    {"cl_plus", kReq, req_with("Content-Length: +5\r\n"), ParseError::kInvalidContentLength, 400,
     false},
    {"cl_minus", kReq, req_with("Content-Length: -5\r\n"), ParseError::kInvalidContentLength, 400,
     false},
    {"cl_space_inside", kReq, req_with("Content-Length: 1 0\r\n"),
     ParseError::kInvalidContentLength, 400, false},
    {"cl_hex", kReq, req_with("Content-Length: 0x10\r\n"), ParseError::kInvalidContentLength, 400,
     false},
    {"cl_trailing_garbage", kReq, req_with("Content-Length: 5a\r\n"),
     ParseError::kInvalidContentLength, 400, false},
    {"cl_empty", kReq, req_with("Content-Length:\r\n"), ParseError::kInvalidContentLength, 400,
     false},
    {"cl_overflow", kReq, req_with("Content-Length: 99999999999999999999\r\n"),
     ParseError::kInvalidContentLength, 400, false},
    {"cl_above_int64", kReq, req_with("Content-Length: 9223372036854775808\r\n"),
     ParseError::kInvalidContentLength, 400, false},
    {"cl_empty_list_element", kReq, req_with("Content-Length: 5,,5\r\n"),
     ParseError::kInvalidContentLength, 400, false},
    {"cl_trailing_comma", kReq, req_with("Content-Length: 5,\r\n"),
     ParseError::kInvalidContentLength, 400, false},
    {"cl_decimal_point", kReq, req_with("Content-Length: 5.0\r\n"),
     ParseError::kInvalidContentLength, 400, false},
    {"te_gzip_only", kReq, req_with("Transfer-Encoding: gzip\r\n"),
     ParseError::kTransferEncodingNotChunkedLast, 400, false},
    {"te_chunked_then_gzip", kReq, req_with("Transfer-Encoding: chunked, gzip\r\n"),
     ParseError::kTransferEncodingNotChunkedLast, 400, false},
    {"te_unknown", kReq, req_with("Transfer-Encoding: foo\r\n"),
     ParseError::kUnknownTransferEncoding, 501, false},
    {"te_chunked_then_unknown", kReq, req_with("Transfer-Encoding: chunked, foo\r\n"),
     ParseError::kUnknownTransferEncoding, 501, false},
    {"te_identity", kReq, req_with("Transfer-Encoding: identity\r\n"),
     ParseError::kUnknownTransferEncoding, 501, false},
    {"te_xchunked", kReq, req_with("Transfer-Encoding: xchunked\r\n"),
     ParseError::kUnknownTransferEncoding, 501, false},
    {"te_chunked_with_param", kReq, req_with("Transfer-Encoding: chunked;q=1\r\n"),
     ParseError::kUnknownTransferEncoding, 501, false},
    {"te_gzip_chunked_unsupported", kReq, req_with("Transfer-Encoding: gzip, chunked\r\n"),
     ParseError::kUnknownTransferEncoding, 501, false},
    {"te_chunked_twice_list", kReq, req_with("Transfer-Encoding: chunked, chunked\r\n"),
     ParseError::kTransferEncodingNotChunkedLast, 400, false},
    {"te_chunked_twice_fields", kReq,
     req_with("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
     ParseError::kTransferEncodingNotChunkedLast, 400, false},
    {"te_split_fields_chunked_first", kReq,
     req_with("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n"),
     ParseError::kTransferEncodingNotChunkedLast, 400, false},
    {"te_trailing_garbage", kReq, req_with("Transfer-Encoding: chunked x\r\n"),
     ParseError::kTransferEncodingNotChunkedLast, 400, false},
    {"te_quoted", kReq, req_with("Transfer-Encoding: \"chunked\"\r\n"),
     ParseError::kTransferEncodingNotChunkedLast, 400, false},
    {"te_trailing_comma", kReq, req_with("Transfer-Encoding: chunked,\r\n"),
     ParseError::kTransferEncodingNotChunkedLast, 400, false},
    {"te_empty", kReq, req_with("Transfer-Encoding:\r\n"),
     ParseError::kTransferEncodingNotChunkedLast, 400, false},
    {"te_vertical_tab", kReq, req_with("Transfer-Encoding: chunked\x0b\r\n"),
     ParseError::kInvalidHeaderValue, 400, false},
    {"te_in_http10", kReq, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     ParseError::kTransferEncodingInHttp10, 400, false},

    // --- Field syntax
    {"obs_fold", kReq, "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", ParseError::kObsFold,
     400, false},
    {"obs_fold_tab", kReq, "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n",
     ParseError::kObsFold, 400, false},
    {"obs_fold_hides_te", kReq,
     "POST / HTTP/1.1\r\nHost: a\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\n",
     ParseError::kObsFold, 400, false},
    {"whitespace_after_start_line", kReq, "GET / HTTP/1.1\r\n Host: a\r\n\r\n",
     ParseError::kMalformed, 400, false},
    {"space_before_colon", kReq, "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
     ParseError::kWhitespaceBeforeColon, 400, false},
    {"tab_before_colon_te", kReq, req_with("Transfer-Encoding\t: chunked\r\n"),
     ParseError::kWhitespaceBeforeColon, 400, false},
    {"name_non_tchar", kReq, req_with("X(A): b\r\n"), ParseError::kInvalidHeaderName, 400, false},
    {"name_with_space", kReq, req_with("X A: b\r\n"), ParseError::kInvalidHeaderName, 400, false},
    {"name_empty", kReq, req_with(": b\r\n"), ParseError::kInvalidHeaderName, 400, false},
    {"name_obs_text", kReq, req_with("X\x80: b\r\n"), ParseError::kInvalidHeaderName, 400, false},
    {"name_nul", kReq, req_with(std::string("X\0A: b\r\n", 8)), ParseError::kInvalidHeaderName, 400,
     false},
    {"te_underscore_lookalike", kReq, req_with("Transfer_Encoding: chunked\r\n"),
     ParseError::kInvalidHeaderName, 400, false},
    {"cl_underscore_lookalike", kReq, req_with("content_length: 5\r\n"),
     ParseError::kInvalidHeaderName, 400, false},
    {"no_colon", kReq, req_with("Foo\r\n"), ParseError::kMalformed, 400, false},
    {"value_nul", kReq, req_with(std::string("X: a\0b\r\n", 8)), ParseError::kInvalidHeaderValue,
     400, false},
    {"value_bare_cr", kReq, req_with("X: a\rb\r\n"), ParseError::kInvalidHeaderValue, 400, false},
    {"value_bare_cr_before_te", kReq, req_with("X: a\rTransfer-Encoding: chunked\r\n"),
     ParseError::kInvalidHeaderValue, 400, false},
    {"value_del", kReq, req_with("X: a\x7f\r\n"), ParseError::kInvalidHeaderValue, 400, false},
    {"value_ctl", kReq, req_with("X: \x01\r\n"), ParseError::kInvalidHeaderValue, 400, false},
    {"value_esc", kReq, req_with("X: a\x1b[0m\r\n"), ParseError::kInvalidHeaderValue, 400, false},

    // --- Line endings
    {"bare_lf_request_line", kReq, "GET / HTTP/1.1\nHost: a\r\n\r\n", ParseError::kMalformed, 400,
     false},
    {"bare_lf_field", kReq, "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", ParseError::kMalformed, 400,
     false},
    {"bare_lf_final", kReq, "GET / HTTP/1.1\r\nHost: a\r\n\n", ParseError::kMalformed, 400, false},
    {"bare_lf_leading", kReq, "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::kMalformed, 400,
     false},
    {"bare_cr_line_end", kReq, "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
     ParseError::kInvalidHeaderValue, 400, false},
    {"bare_cr_request_line", kReq, "GET / HTTP/1.1\rHost: a\r\n\r\n", ParseError::kInvalidVersion,
     400, false},
    {"garbage_before_request", kReq, "X\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
     ParseError::kMalformed, 400, false},
    {"space_line_before_request", kReq, " \r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
     ParseError::kInvalidMethod, 400, false},

    // --- Host
    {"missing_host", kReq, "GET / HTTP/1.1\r\n\r\n", ParseError::kMissingHost, 400, false},
    {"multiple_host", kReq, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
     ParseError::kMultipleHost, 400, false},
    {"multiple_identical_host", kReq, "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
     ParseError::kMultipleHost, 400, false},
    {"multiple_host_http10", kReq, "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
     ParseError::kMultipleHost, 400, false},
    {"host_empty", kReq, "GET / HTTP/1.1\r\nHost:\r\n\r\n", ParseError::kInvalidHost, 400, false},
    {"host_space", kReq, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", ParseError::kInvalidHost, 400,
     false},
    {"host_list", kReq, "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", ParseError::kInvalidHost, 400,
     false},
    {"host_userinfo", kReq, "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", ParseError::kInvalidHost, 400,
     false},
    {"host_slash", kReq, "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", ParseError::kInvalidHost, 400,
     false},
    {"host_bad_port", kReq, "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", ParseError::kInvalidHost, 400,
     false},
    {"host_long_port", kReq, "GET / HTTP/1.1\r\nHost: a:123456\r\n\r\n", ParseError::kInvalidHost,
     400, false},
    {"host_unterminated_ipv6", kReq, "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
     ParseError::kInvalidHost, 400, false},
    {"host_bad_pct", kReq, "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", ParseError::kInvalidHost, 400,
     false},
    {"absolute_form_host_mismatch", kReq, "GET http://a/x HTTP/1.1\r\nHost: b\r\n\r\n",
     ParseError::kInvalidHost, 400, false},

    // --- Request line
    {"target_no_slash", kReq, "GET a HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::kInvalidTarget, 400,
     false},
    {"target_asterisk_get", kReq, "GET * HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::kInvalidTarget,
     400, false},
    {"target_fragment", kReq, "GET /a#f HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::kInvalidTarget,
     400, false},
    {"target_space", kReq, "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::kInvalidTarget, 400,
     false},
    {"target_ctl", kReq, "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::kInvalidTarget, 400,
     false},
    {"target_tab", kReq, "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::kInvalidTarget, 400,
     false},
    {"target_obs_text", kReq, "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
     ParseError::kInvalidTarget, 400, false},
    {"double_space", kReq, "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::kInvalidTarget, 400,
     false},
    {"absolute_form_ftp", kReq, "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
     ParseError::kInvalidTarget, 400, false},
    {"absolute_form_no_slashes", kReq, "GET http:a/ HTTP/1.1\r\nHost: a\r\n\r\n",
     ParseError::kInvalidTarget, 400, false},
    {"absolute_form_userinfo", kReq, "GET http://u:p@a/ HTTP/1.1\r\nHost: a\r\n\r\n",
     ParseError::kInvalidTarget, 400, false},
    {"absolute_form_empty_authority", kReq, "GET http:/// HTTP/1.1\r\nHost: a\r\n\r\n",
     ParseError::kInvalidTarget, 400, false},
    {"version_12", kReq, "GET / HTTP/1.2\r\nHost: a\r\n\r\n", ParseError::kInvalidVersion, 400,
     false},
    {"version_20", kReq, "GET / HTTP/2.0\r\nHost: a\r\n\r\n", ParseError::kInvalidVersion, 400,
     false},
    {"version_lowercase", kReq, "GET / http/1.1\r\nHost: a\r\n\r\n", ParseError::kInvalidVersion,
     400, false},
    {"version_leading_zero", kReq, "GET / HTTP/01.1\r\nHost: a\r\n\r\n",
     ParseError::kInvalidVersion, 400, false},
    {"version_trailing_space", kReq, "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
     ParseError::kInvalidVersion, 400, false},
    {"http09", kReq, "GET /\r\n\r\n", ParseError::kInvalidVersion, 400, false},
    {"method_non_token", kReq, "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::kInvalidMethod, 400,
     false},
    {"method_leading_space", kReq, " GET / HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::kInvalidMethod,
     400, false},
    {"method_tab_separator", kReq, "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::kInvalidMethod,
     400, false},
    {"request_line_no_space", kReq, "GET\r\nHost: a\r\n\r\n", ParseError::kMalformed, 400, false},
    {"connect", kReq, "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
     ParseError::kConnectNotAllowed, 405, false},
    {"method_empty_then_tab", kReq, "\t/ HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::kInvalidMethod,
     400, false},
    // The HTTP/2 preface is not an HTTP/1 request (its version, and "*" outside OPTIONS).
    {"h2_preface", kReq, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ParseError::kInvalidVersion, 400,
     false},
    // Refused by strict llhttp 8.1 (which read every head too until issue 15), so
    // refused by our rules now that they alone read it: an upstream built on llhttp 8.1
    // (Node.js) would read these differently.
    {"pri_http11", kReq, "PRI / HTTP/1.1\r\nHost: a\r\n\r\n", ParseError::kInvalidVersion, 400,
     false},
    {"pri_absolute_form", kReq, "PRI http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
     ParseError::kInvalidVersion, 400, false},
    {"cl_list_identical", kReq, req_with("Content-Length: 3, 3\r\n"),
     ParseError::kInvalidContentLength, 400, false},
    {"cl_htab_after_digits", kReq, req_with("Content-Length: 3\t\r\n"),
     ParseError::kInvalidContentLength, 400, false},
    {"cl_htab_between_sp_after_digits", kReq, req_with("Content-Length: 3 \t \r\n"),
     ParseError::kInvalidContentLength, 400, false},
    {"te_htab_after_chunked", kReq, req_with("Transfer-Encoding: chunked\t\r\n"),
     ParseError::kTransferEncodingNotChunkedLast, 400, false},
    {"te_htab_after_chunked_response", kResp, resp_with("Transfer-Encoding: chunked \t\r\n"),
     ParseError::kTransferEncodingNotChunkedLast, 400, false},
    {"cl_htab_after_digits_response", kResp, resp_with("Content-Length: 0\t\r\n"),
     ParseError::kInvalidContentLength, 400, false},
    // Accepted by strict llhttp 8.1, refused by our rules.
    {"version_09", kReq, "GET / HTTP/0.9\r\nHost: a\r\n\r\n", ParseError::kInvalidVersion, 400,
     false},
    {"cl_identical_duplicate", kReq, req_with("Content-Length: 3\r\nContent-Length: 3\r\n"),
     ParseError::kInvalidContentLength, 400, false},

    // --- Chunk framing (head passed, so on_head ran)
    {"chunk_size_trailing_space", kReq, post_chunked("5 \r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"chunk_size_leading_space", kReq, post_chunked(" 5\r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"chunk_size_tab", kReq, post_chunked("5\t\r\nhello\r\n0\r\n\r\n"), ParseError::kInvalidChunk,
     400, true},
    {"chunk_size_0x", kReq, post_chunked("0x5\r\nhello\r\n0\r\n\r\n"), ParseError::kInvalidChunk,
     400, true},
    {"chunk_size_plus", kReq, post_chunked("+5\r\nhello\r\n0\r\n\r\n"), ParseError::kInvalidChunk,
     400, true},
    {"chunk_size_minus", kReq, post_chunked("-5\r\nhello\r\n0\r\n\r\n"), ParseError::kInvalidChunk,
     400, true},
    {"chunk_size_non_hex", kReq, post_chunked("g\r\nhello\r\n0\r\n\r\n"), ParseError::kInvalidChunk,
     400, true},
    {"chunk_size_empty", kReq, post_chunked("\r\nhello\r\n0\r\n\r\n"), ParseError::kInvalidChunk,
     400, true},
    {"chunk_size_overflow", kReq, post_chunked("1ffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"chunk_size_bare_lf", kReq, post_chunked("5\nhello\r\n0\r\n\r\n"), ParseError::kInvalidChunk,
     400, true},
    {"chunk_size_bare_cr", kReq, post_chunked("5\rhello\r\n0\r\n\r\n"), ParseError::kInvalidChunk,
     400, true},
    // llhttp 8.1 skips any two bytes here: the classic chunk-data smuggling vector.
    {"chunk_data_no_crlf", kReq, post_chunked("5\r\nhelloXX0\r\n\r\n"), ParseError::kInvalidChunk,
     400, true},
    {"chunk_data_too_long", kReq, post_chunked("3\r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"chunk_data_bare_lf", kReq, post_chunked("5\r\nhello\n0\r\n\r\n"), ParseError::kInvalidChunk,
     400, true},
    {"chunk_data_cr_only", kReq, post_chunked("5\r\nhello\r0\r\n\r\n"), ParseError::kInvalidChunk,
     400, true},
    {"last_chunk_bare_lf", kReq, post_chunked("5\r\nhello\r\n0\n\r\n"), ParseError::kInvalidChunk,
     400, true},
    {"final_crlf_bare_lf", kReq, post_chunked("5\r\nhello\r\n0\r\n\n"), ParseError::kInvalidChunk,
     400, true},
    {"chunk_ext_empty_name", kReq, post_chunked("5;\r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    // Found by tests/fuzz/chunked_fuzzer: an empty name after another extension or
    // before '=', a token value run on into a quoted string (chunk-ext-name is a token,
    // chunk-ext-val a token or a quoted-string, RFC 9112 §7.1.1).
    {"chunk_ext_empty_name_after_value", kReq, post_chunked("5;a=b;\r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"chunk_ext_empty_name_between", kReq, post_chunked("5;;a\r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"chunk_ext_empty_name_with_value", kReq, post_chunked("5;=b\r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"chunk_ext_token_then_quoted", kReq, post_chunked("5;a=x\"\"\r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"chunk_ext_quoted_del", kReq, post_chunked("5;a=\"\x7f\";b\r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"last_chunk_ext_empty_name", kReq, post_chunked("5\r\nhello\r\n0;a=b;\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"chunk_ext_space_not_before_semicolon", kReq, post_chunked("5 a=b\r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"chunk_ext_trailing_space", kReq, post_chunked("5;a=b \r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"chunk_ext_two_names", kReq, post_chunked("5;a b\r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"chunk_ext_value_space", kReq, post_chunked("5;a=b c\r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"chunk_ext_empty_value", kReq, post_chunked("5;a=\r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"chunk_ext_quoted_cr", kReq, post_chunked("5;a=\"x\r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"chunk_ext_quoted_lf", kReq, post_chunked("5;a=\"x\ny\"\r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"chunk_ext_quoted_escaped_cr", kReq, post_chunked("5;a=\"x\\\r\"\r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"chunk_ext_after_quote", kReq, post_chunked("5;a=\"x\"y\r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"chunk_ext_ctl", kReq, post_chunked("5;a\x01\r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"chunk_ext_too_long", kReq,
     post_chunked("5;a=" + std::string(4100, 'x') + "\r\nhello\r\n0\r\n\r\n"),
     ParseError::kChunkExtensionsTooLong, 400, true},
    {"chunk_ext_too_long_many", kReq,
     post_chunked("5" + [] {
       std::string s;
       for (int i = 0; i < 1100; ++i) s += ";a=b";
       return s;
     }() + "\r\nhello\r\n0\r\n\r\n"),
     ParseError::kChunkExtensionsTooLong, 400, true},
    {"last_chunk_ext_too_long", kReq,
     post_chunked("5\r\nhello\r\n0;a=" + std::string(4100, 'x') + "\r\n\r\n"),
     ParseError::kChunkExtensionsTooLong, 400, true},
    {"chunk_ext_too_long_response", kResp,
     resp_with("Transfer-Encoding: chunked\r\n") + "5;a=" + std::string(4100, 'x') +
         "\r\nhello\r\n0\r\n\r\n",
     ParseError::kChunkExtensionsTooLong, 400, true},
    {"chunk_ext_bws_not_before_semicolon_response", kResp,
     resp_with("Transfer-Encoding: chunked\r\n") + "5 x\r\nhello\r\n0\r\n\r\n",
     ParseError::kInvalidChunk, 400, true},
    // Size limits our scanner holds the line to.
    {"chunk_size_above_int64", kReq, post_chunked("8000000000000000\r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"chunk_size_max_uint64", kReq, post_chunked("ffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"last_chunk_ext_empty_value", kReq, post_chunked("5\r\nhello\r\n0;a=\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    // Trailers: strict llhttp 8.1 accepts an empty name and obs-fold there.
    {"trailer_empty_name", kReq, post_chunked("0\r\n: x\r\n\r\n"), ParseError::kInvalidHeaderName,
     400, true},
    {"trailer_content_length", kReq, post_chunked("0\r\nContent-Length: 5\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"trailer_transfer_encoding", kReq, post_chunked("0\r\nTransfer-Encoding: chunked\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"trailer_te_underscore", kReq, post_chunked("0\r\nTransfer_Encoding: chunked\r\n\r\n"),
     ParseError::kInvalidChunk, 400, true},
    {"trailer_host", kReq, post_chunked("0\r\nHost: evil\r\n\r\n"), ParseError::kInvalidChunk, 400,
     true},
    {"trailer_obs_fold", kReq, post_chunked("0\r\nX: a\r\n b\r\n\r\n"), ParseError::kObsFold, 400,
     true},
    {"trailer_space_before_colon", kReq, post_chunked("0\r\nX : a\r\n\r\n"),
     ParseError::kWhitespaceBeforeColon, 400, true},
    {"trailer_bad_name", kReq, post_chunked("0\r\nX(: a\r\n\r\n"), ParseError::kInvalidHeaderName,
     400, true},
    {"trailer_bare_lf", kReq, post_chunked("0\r\nX: a\n\r\n"), ParseError::kInvalidChunk, 400,
     true},
    {"trailer_bare_cr", kReq, post_chunked("0\r\nX: a\rb\r\n\r\n"), ParseError::kInvalidHeaderValue,
     400, true},

    // --- Responses: status line and the same framing rules
    {"status_below_100", kResp, "HTTP/1.1 099 X\r\n\r\n", ParseError::kInvalidStatus, 502, false},
    {"status_above_599", kResp, "HTTP/1.1 600 X\r\n\r\n", ParseError::kInvalidStatus, 502, false},
    {"status_two_digits", kResp, "HTTP/1.1 20 OK\r\n\r\n", ParseError::kInvalidStatus, 502, false},
    {"status_four_digits", kResp, "HTTP/1.1 2000 OK\r\n\r\n", ParseError::kInvalidStatus, 502,
     false},
    {"status_non_digit", kResp, "HTTP/1.1 2x0 OK\r\n\r\n", ParseError::kInvalidStatus, 502, false},
    {"status_reason_ctl", kResp, "HTTP/1.1 200 O\x01K\r\n\r\n", ParseError::kInvalidStatus, 502,
     false},
    {"status_version", kResp, "HTTP/1.2 200 OK\r\n\r\n", ParseError::kInvalidVersion, 400, false},
    {"status_not_http", kResp, "ICY 200 OK\r\n\r\n", ParseError::kInvalidVersion, 400, false},
    {"resp_cl_and_te", kResp, resp_with("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
     ParseError::kContentLengthAndTransferEncoding, 400, false},
    {"resp_bad_cl", kResp, resp_with("Content-Length: 5\r\nContent-Length: 7\r\n"),
     ParseError::kInvalidContentLength, 400, false},
    {"resp_te_gzip", kResp, resp_with("Transfer-Encoding: gzip\r\n"),
     ParseError::kTransferEncodingNotChunkedLast, 400, false},
    {"resp_te_unknown", kResp, resp_with("Transfer-Encoding: foo, chunked\r\n"),
     ParseError::kUnknownTransferEncoding, 501, false},
    {"resp_te_http10", kResp, "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
     ParseError::kTransferEncodingInHttp10, 400, false},
    {"resp_obs_fold", kResp, resp_with("X: a\r\n b\r\n"), ParseError::kObsFold, 400, false},
    {"resp_bare_lf", kResp, "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", ParseError::kMalformed,
     400, false},
    {"resp_chunk_no_crlf", kResp,
     resp_with("Transfer-Encoding: chunked\r\n") + "5\r\nhelloXX0\r\n\r\n",
     ParseError::kInvalidChunk, 400, true},
    {"resp_204_cl_and_te", kResp,
     "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
     ParseError::kContentLengthAndTransferEncoding, 400, false},
};

class RejectTest : public ::testing::TestWithParam<RejectCase> {};

TEST_P(RejectTest, RejectedWholeAndByteByByte) {
  const RejectCase& c = GetParam();
  EXPECT_EQ(parse_error_info(c.error).status, c.status);
  for (size_t step : {size_t{0}, size_t{1}, size_t{7}}) {
    SCOPED_TRACE(step);
    const auto r = run(c.kind, c.raw, step);
    EXPECT_EQ(r.error, c.error) << parse_error_info(r.error).reason;
    EXPECT_EQ(!r.messages.empty(), c.head_delivered);
    for (const auto& m : r.messages) EXPECT_FALSE(m.complete);
  }
}

// Pieces that cut lines at other places: the head is validated where it lies in the
// caller's buffer when whole lines are there, and in the parser's copy when a line was
// cut, so both paths must give the same reason.
TEST_P(RejectTest, RejectedInUnevenPieces) {
  const RejectCase& c = GetParam();
  for (size_t step : {size_t{3}, size_t{13}, size_t{17}, size_t{29}}) {
    SCOPED_TRACE(step);
    const auto r = run(c.kind, c.raw, step);
    EXPECT_EQ(r.error, c.error) << parse_error_info(r.error).reason;
    EXPECT_EQ(!r.messages.empty(), c.head_delivered);
    for (const auto& m : r.messages) EXPECT_FALSE(m.complete);
  }
}

INSTANTIATE_TEST_SUITE_P(Vectors, RejectTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<RejectCase>& i) {
                           return std::string(i.param.name);
                         });

TEST(RejectTest, ErrorIsSticky) {
  testing::RecordingSink sink;
  Parser p(MessageKind::kRequest, {}, sink);
  const std::string bad = "GET / HTTP/1.1\r\nHost : a\r\n\r\n";
  EXPECT_EQ(p.feed(bad).status, FeedStatus::kError);
  EXPECT_EQ(p.error(), ParseError::kWhitespaceBeforeColon);
  const auto again = p.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(again.status, FeedStatus::kError);
  EXPECT_EQ(again.consumed, 0u);
  EXPECT_TRUE(sink.messages.empty());
}

TEST(ParseErrorInfoTest, LabelsAndStatuses) {
  EXPECT_STREQ(parse_error_info(ParseError::kContentLengthAndTransferEncoding).reason, "cl_and_te");
  EXPECT_STREQ(parse_error_info(ParseError::kObsFold).reason, "obs_fold");
  EXPECT_STREQ(parse_error_info(ParseError::kMissingHost).reason, "missing_host");
  EXPECT_STREQ(parse_error_info(ParseError::kInvalidContentLength).reason, "bad_content_length");
  EXPECT_STREQ(parse_error_info(ParseError::kInvalidChunk).reason, "bad_chunk");
  EXPECT_EQ(parse_error_info(ParseError::kRequestLineTooLong).status, 414);
  EXPECT_EQ(parse_error_info(ParseError::kHeadersTooLarge).status, 431);
  EXPECT_EQ(parse_error_info(ParseError::kTooManyHeaders).status, 431);
  EXPECT_EQ(parse_error_info(ParseError::kBodyTooLarge).status, 413);
  EXPECT_EQ(parse_error_info(ParseError::kConnectNotAllowed).status, 405);
  EXPECT_EQ(parse_error_info(ParseError::kUnknownTransferEncoding).status, 501);
  // Every error has a distinct, non-empty label.
  for (int i = 0; i < static_cast<int>(ParseError::kCount); ++i) {
    const char* a = parse_error_info(static_cast<ParseError>(i)).reason;
    ASSERT_NE(a, nullptr);
    EXPECT_GT(std::string(a).size(), 0u);
    for (int j = 0; j < i; ++j) {
      EXPECT_STRNE(a, parse_error_info(static_cast<ParseError>(j)).reason);
    }
  }
}

}  // namespace
}  // namespace sidemeter::http
