"""Raw request inputs for the differential runs.

Malformed and ambiguous requests come from the repository's own corpora:
tests/integration/smuggling_test.cc (source "smuggling") and
tests/proxy/http1/parser_reject_test.cc (source "reject"; its head-only rows get a body
of the length or framing they announce). Every malformed input is followed, in the same
write, by EVIL: a request for /evil that reaches an upstream as a request of its own only
if some recipient frames the bytes before it differently from the reading given here.

Each vector carries `reading`: the requests, as (method, target, body), that a correct
forwarder sends if it forwards at all, in order; a forwarder may stop early (refuse the
rest) but never send anything else.
- None: the framing itself is ambiguous or invalid (conflicting or malformed
  Content-Length, Transfer-Encoding not ending in a single chunked, broken chunk syntax,
  a request line that splits two ways): nothing may be forwarded.
- Where RFC 9112 names a reading and a duty to close (Content-Length with
  Transfer-Encoding: by Transfer-Encoding alone, then close, §6.1), it is that reading
  without what follows.
- Where the defect does not touch framing (a bad field name or value on a bodiless GET,
  obs-fold, bare LF as a line end, which RFC 9112 §2.2 and §5.2 let a recipient accept or
  repair), the reading is the obvious one, EVIL included: forwarding it is not smuggling,
  only lenient. Whether the proxy should be that lenient is the peers' comparison, not
  this one's.

`valid` says whether the input is a correct HTTP/1.1 request sequence (refusing it is a
usability gap, not a safety property). Valid inputs end with `Connection: close` so every
proxy closes once it has answered, and a run never waits on a timer.
"""

HOST = b"test.local"
EVIL = b"GET /evil HTTP/1.1\r\nHost: test.local\r\nConnection: close\r\n\r\n"
EVIL_R = (b"GET", b"/evil", b"")
HELLO_CHUNKED = b"5\r\nhello\r\n0\r\n\r\n"


class Vector:
  def __init__(self, name, source, raw, reading, valid=False):
    self.name = name
    self.source = source
    self.raw = raw
    self.reading = reading
    self.valid = valid

  def methods(self):
    """Request methods in order, for reading responses (HEAD has no body)."""
    if self.reading:
      return [m for m, _, _ in self.reading]
    return []


def _t(name):
  return b"/" + name.encode("latin-1")  # "\xc3\xa9" in a name stands for those two octets


def get(name, fields=b"", version=b"HTTP/1.1", host=True):
  h = b"Host: test.local\r\n" if host else b""
  return b"GET " + _t(name) + b" " + version + b"\r\n" + h + fields + b"\r\n"


def post(name, fields, body=b"", version=b"HTTP/1.1"):
  return (b"POST " + _t(name) + b" " + version + b"\r\nHost: test.local\r\n" + fields +
          b"\r\n" + body)


def chunked(name, body_bytes):
  return post(name, b"Transfer-Encoding: chunked\r\n", body_bytes)


def _malformed():
  v = []

  def add(name, source, raw, reading, valid=False):
    v.append(Vector(name, source, raw + EVIL, reading, valid))

  G = lambda n: [(b"GET", _t(n), b""), EVIL_R]  # framing-neutral defect on a GET
  P = lambda n, body=b"hello": [(b"POST", _t(n), body)]

  # --- smuggling_test.cc: the framing attacks, EVIL right after the ambiguous body
  add("ContentLengthAndTransferEncoding", "smuggling",
      post("ContentLengthAndTransferEncoding",
           b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"),
      P("ContentLengthAndTransferEncoding", b""))
  add("TransferEncodingAndContentLength", "smuggling",
      post("TransferEncodingAndContentLength",
           b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", b"0\r\n\r\n"),
      P("TransferEncodingAndContentLength", b""))
  n44 = str(len(b"abc" + EVIL)).encode()
  add("DuplicateContentLengthDiffering", "smuggling",
      post("DuplicateContentLengthDiffering",
           b"Content-Length: 3\r\nContent-Length: " + n44 + b"\r\n", b"abc"), None)
  add("ContentLengthList", "smuggling",
      post("ContentLengthList", b"Content-Length: 3, " + n44 + b"\r\n", b"abc"), None)
  add("ContentLengthNotNumeric", "smuggling",
      post("ContentLengthNotNumeric", b"Content-Length: abc\r\n"), None)
  add("ContentLengthPlusSign", "smuggling",
      post("ContentLengthPlusSign", b"Content-Length: +3\r\n", b"abc"), None)
  add("ContentLengthNegative", "smuggling",
      post("ContentLengthNegative", b"Content-Length: -1\r\n"), None)
  add("ContentLengthHex", "smuggling",
      post("ContentLengthHex", b"Content-Length: 0x3\r\n", b"abc"), None)
  add("ContentLengthOverflow", "smuggling",
      post("ContentLengthOverflow", b"Content-Length: 99999999999999999999999999\r\n"), None)
  add("TransferEncodingChunkedNotFinal", "smuggling",
      post("TransferEncodingChunkedNotFinal", b"Transfer-Encoding: chunked, gzip\r\n",
           b"0\r\n\r\n"), None)
  # Chunked is final, so the framing is clear; forwarding the unknown coding on is allowed
  # (the upstream decodes it), as is a 501.
  add("TransferEncodingUnknownCoding", "smuggling",
      post("TransferEncodingUnknownCoding", b"Transfer-Encoding: foo, chunked\r\n",
           b"0\r\n\r\n"), [(b"POST", b"/TransferEncodingUnknownCoding", b""), EVIL_R])
  add("ObsFoldedHeader", "smuggling", get("ObsFoldedHeader", b"X-Folded: a\r\n b\r\n"),
      G("ObsFoldedHeader"))
  # Unfolded, Transfer-Encoding joins Content-Length: a TE+CL request whose chunked body
  # ("abc...") is invalid.
  add("ObsFoldedTransferEncoding", "smuggling",
      post("ObsFoldedTransferEncoding",
           b"Content-Length: 3\r\nTransfer-Encoding:\r\n chunked\r\n", b"abc"), None)
  add("SpaceBeforeColon", "smuggling",
      b"GET /SpaceBeforeColon HTTP/1.1\r\nHost : test.local\r\n\r\n", None)
  add("SpaceBeforeColonContentLength", "smuggling",
      post("SpaceBeforeColonContentLength", b"Content-Length : 3\r\n", b"abc"), None)
  add("SpaceInHeaderName", "smuggling", get("SpaceInHeaderName", b"X Bad: 1\r\n"),
      G("SpaceInHeaderName"))
  add("ControlByteInHeaderName", "smuggling", get("ControlByteInHeaderName", b"X-B\x01d: 1\r\n"),
      G("ControlByteInHeaderName"))
  add("NulInHeaderValue", "smuggling", get("NulInHeaderValue", b"X-Bad: a\x00b\r\n"),
      G("NulInHeaderValue"))
  add("BareCrInHeaderValue", "smuggling", get("BareCrInHeaderValue", b"X-Bad: a\rb\r\n"),
      G("BareCrInHeaderValue"))
  add("EmptyHeaderName", "smuggling", get("EmptyHeaderName", b": value\r\n"),
      G("EmptyHeaderName"))
  # Host defects leave the framing alone: forwarding them is nonconforming, not smuggling.
  add("MissingHost", "smuggling", get("MissingHost", b"X-A: 1\r\n", host=False),
      G("MissingHost"))
  add("DuplicateHost", "smuggling", get("DuplicateHost", b"Host: other.local\r\n"),
      G("DuplicateHost"))
  add("BadChunkSize", "smuggling", chunked("BadChunkSize", b"zz\r\nabc\r\n0\r\n\r\n"), None)
  add("ChunkSizeOverflow", "smuggling",
      chunked("ChunkSizeOverflow", b"fffffffffffffffffffff\r\nabc\r\n0\r\n\r\n"), None)
  add("ChunkDataWithoutCrlf", "smuggling",
      chunked("ChunkDataWithoutCrlf", b"3\r\nabcXX0\r\n\r\n"), None)
  add("ChunkSizeBareLf", "smuggling", chunked("ChunkSizeBareLf", b"3\nabc\r\n0\r\n\r\n"), None)
  add("BareLfLineEndings", "smuggling", b"GET /BareLfLineEndings HTTP/1.1\nHost: test.local\n\n",
      G("BareLfLineEndings"))
  add("BareLfInsideHeaders", "smuggling",
      b"GET /BareLfInsideHeaders HTTP/1.1\r\nHost: test.local\nX-A: 1\r\n\r\n",
      G("BareLfInsideHeaders"))
  add("GarbageRequestLine", "smuggling", b"SMUGGLE\r\n\r\n", None)
  add("SpaceInTarget", "smuggling", b"GET /SpaceInTarget /x HTTP/1.1\r\nHost: test.local\r\n\r\n",
      None)
  add("NulInTarget", "smuggling", b"GET /NulInTarget\x00 HTTP/1.1\r\nHost: test.local\r\n\r\n",
      None)
  add("ConnectMethod", "smuggling",
      b"CONNECT smuggle.local:443 HTTP/1.1\r\nHost: smuggle.local:443\r\n\r\n",
      [(b"CONNECT", b"smuggle.local:443", b""), EVIL_R])  # the upstream answers 405

  # --- parser_reject_test.cc, Content-Length / Transfer-Encoding (body "hello")
  add("cl_then_te", "reject",
      post("cl_then_te", b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", HELLO_CHUNKED),
      P("cl_then_te"))
  add("te_then_cl", "reject",
      post("te_then_cl", b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", HELLO_CHUNKED),
      P("te_then_cl"))
  add("cl_and_te_gzip", "reject",
      post("cl_and_te_gzip", b"Content-Length: 5\r\nTransfer-Encoding: gzip\r\n", b"hello"), None)
  add("cl_conflicting_fields", "reject",
      post("cl_conflicting_fields", b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"),
      None)
  add("cl_conflicting_list", "reject",
      post("cl_conflicting_list", b"Content-Length: 5, 6\r\n", b"hello!"), None)
  for name, value in [("cl_plus", b"+5"), ("cl_minus", b"-5"), ("cl_space_inside", b"1 0"),
                      ("cl_hex", b"0x5"), ("cl_trailing_garbage", b"5a"), ("cl_empty", b""),
                      ("cl_overflow", b"99999999999999999999"),
                      ("cl_above_int64", b"9223372036854775808"), ("cl_decimal_point", b"5.0")]:
    add(name, "reject", post(name, b"Content-Length: " + value + b"\r\n", b"hello"), None)
  # RFC 9110 §8.6 lets a recipient take a list of identical values as that value.
  add("cl_identical_duplicate", "reject",
      post("cl_identical_duplicate", b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"),
      P("cl_identical_duplicate") + [EVIL_R])
  add("cl_identical_list", "edge",
      post("cl_identical_list", b"Content-Length: 5, 5\r\n", b"hello"),
      P("cl_identical_list") + [EVIL_R])
  add("cl_empty_list_element", "reject",
      post("cl_empty_list_element", b"Content-Length: 5,,5\r\n", b"hello"),
      P("cl_empty_list_element") + [EVIL_R])
  add("cl_trailing_comma", "reject",
      post("cl_trailing_comma", b"Content-Length: 5,\r\n", b"hello"),
      P("cl_trailing_comma") + [EVIL_R])
  for name, value in [("te_gzip_only", b"gzip"), ("te_chunked_then_gzip", b"chunked, gzip"),
                      ("te_unknown", b"foo"), ("te_chunked_then_unknown", b"chunked, foo"),
                      ("te_identity", b"identity"), ("te_xchunked", b"xchunked"),
                      ("te_chunked_with_param", b"chunked;q=1"),
                      ("te_chunked_twice_list", b"chunked, chunked"),
                      ("te_trailing_garbage", b"chunked x"), ("te_quoted", b'"chunked"'),
                      ("te_empty", b""), ("te_vertical_tab", b"chunked\x0b")]:
    add(name, "reject", post(name, b"Transfer-Encoding: " + value + b"\r\n", HELLO_CHUNKED),
        None)
  add("te_chunked_twice_fields", "reject",
      post("te_chunked_twice_fields",
           b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", HELLO_CHUNKED), None)
  add("te_split_fields_chunked_first", "reject",
      post("te_split_fields_chunked_first",
           b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", HELLO_CHUNKED), None)
  # Chunked final: clear framing; a forwarder may pass gzip on to the upstream.
  add("te_gzip_chunked_unsupported", "reject",
      post("te_gzip_chunked_unsupported", b"Transfer-Encoding: gzip, chunked\r\n", HELLO_CHUNKED),
      P("te_gzip_chunked_unsupported") + [EVIL_R], valid=True)
  # An empty list element is ignored (RFC 9110 §5.6.1): this is "chunked".
  add("te_trailing_comma", "reject",
      post("te_trailing_comma", b"Transfer-Encoding: chunked,\r\n", HELLO_CHUNKED),
      P("te_trailing_comma") + [EVIL_R])
  add("te_in_http10", "reject",
      b"POST /te_in_http10 HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" + HELLO_CHUNKED, None)
  # Classic TE obfuscations (PortSwigger's list) next to a Content-Length.
  add("te_space_before_colon_with_cl", "smuggling",
      post("te_space_before_colon_with_cl",
           b"Content-Length: 5\r\nTransfer-Encoding : chunked\r\n", b"0\r\n\r\n"), None)
  add("te_bare_lf_hidden_with_cl", "smuggling",
      post("te_bare_lf_hidden_with_cl",
           b"Content-Length: 5\r\nX: X\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), None)
  # Hop-by-hop framing: a proxy that drops Content-Length because Connection names it
  # would send the body as the next request.
  add("connection_names_content_length", "smuggling",
      post("connection_names_content_length",
           b"Content-Length: 5\r\nConnection: Content-Length\r\n", b"hello"),
      P("connection_names_content_length") + [EVIL_R])
  add("connection_names_transfer_encoding", "smuggling",
      post("connection_names_transfer_encoding",
           b"Transfer-Encoding: chunked\r\nConnection: Transfer-Encoding\r\n", HELLO_CHUNKED),
      P("connection_names_transfer_encoding") + [EVIL_R])

  # --- field syntax
  add("obs_fold_tab", "reject", get("obs_fold_tab", b"X-A: b\r\n\tc\r\n"), G("obs_fold_tab"))
  # Unfolded, the Transfer-Encoding text is part of X's value: no body.
  add("obs_fold_hides_te", "reject",
      post("obs_fold_hides_te", b"X: y\r\n Transfer-Encoding: chunked\r\n", HELLO_CHUNKED),
      P("obs_fold_hides_te", b""))
  # RFC 9112 §2.2: a whitespace-led line after the start line is rejected or ignored; the
  # Host in it must not win over the real one.
  add("whitespace_after_start_line", "reject",
      b"GET /whitespace_after_start_line HTTP/1.1\r\n Host: evil.local\r\nHost: test.local\r\n\r\n",
      G("whitespace_after_start_line"))
  add("tab_before_colon_te", "reject",
      post("tab_before_colon_te", b"Transfer-Encoding\t: chunked\r\n", HELLO_CHUNKED), None)
  for name, field in [("name_non_tchar", b"X(A): b"), ("name_obs_text", b"X\x80: b"),
                      ("name_nul", b"X\x00A: b"), ("no_colon", b"Foo"),
                      ("value_del", b"X: a\x7f"), ("value_ctl", b"X: \x01"),
                      ("value_esc", b"X: a\x1b[0m")]:
    add(name, "reject", get(name, field + b"\r\n"), G(name))
  # An underscore look-alike is another field: no framing, so the bytes after the head
  # are the next request (garbage).
  add("te_underscore_lookalike", "reject",
      post("te_underscore_lookalike", b"Transfer_Encoding: chunked\r\n", HELLO_CHUNKED),
      P("te_underscore_lookalike", b""))
  add("cl_underscore_lookalike", "reject",
      post("cl_underscore_lookalike", b"content_length: 5\r\n", b"hello"),
      P("cl_underscore_lookalike", b"") + [(b"helloGET", b"/evil", b"")])  # a valid token
  # Bare CR replaced by SP (RFC 9112 §2.2) keeps Transfer-Encoding inside X's value.
  add("value_bare_cr_before_te", "reject",
      post("value_bare_cr_before_te", b"X: a\rTransfer-Encoding: chunked\r\n", HELLO_CHUNKED),
      P("value_bare_cr_before_te", b""))

  # --- line endings (bare LF as a line end is a MAY, RFC 9112 §2.2)
  add("bare_lf_final", "reject", b"GET /bare_lf_final HTTP/1.1\r\nHost: test.local\r\n\n",
      G("bare_lf_final"))
  add("bare_lf_leading", "reject", b"\nGET /bare_lf_leading HTTP/1.1\r\nHost: test.local\r\n\r\n",
      G("bare_lf_leading"))
  add("bare_cr_line_end", "reject",
      b"GET /bare_cr_line_end HTTP/1.1\r\nHost: test.local\rX: b\r\n\r\n", None)
  add("bare_cr_request_line", "reject",
      b"GET /bare_cr_request_line HTTP/1.1\rHost: test.local\r\n\r\n", None)
  add("garbage_before_request", "reject",
      b"X\r\nGET /garbage_before_request HTTP/1.1\r\nHost: test.local\r\n\r\n", None)
  add("space_line_before_request", "reject",
      b" \r\nGET /space_line_before_request HTTP/1.1\r\nHost: test.local\r\n\r\n", None)

  # --- Host (RFC 9112 §3.2: 400 for none, several, or an invalid one)
  add("multiple_identical_host", "reject", get("multiple_identical_host", b"Host: test.local\r\n"),
      G("multiple_identical_host"))
  add("multiple_host_http10", "reject",
      b"GET /multiple_host_http10 HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
      G("multiple_host_http10"))
  for name, value in [("host_space", b"a b"), ("host_list", b"a, b"), ("host_userinfo", b"u@a"),
                      ("host_slash", b"a/b"), ("host_bad_port", b"a:8x"),
                      ("host_long_port", b"a:123456"), ("host_unterminated_ipv6", b"[::1"),
                      ("host_bad_pct", b"a%zz")]:
    add(name, "reject", b"GET /" + name.encode() + b" HTTP/1.1\r\nHost: " + value + b"\r\n\r\n",
        G(name))
  # absolute-form wins over Host (RFC 9112 §3.2.2): valid.
  add("absolute_form_host_mismatch", "reject",
      b"GET http://a/absolute_form_host_mismatch HTTP/1.1\r\nHost: b\r\n\r\n",
      [(b"GET", b"/absolute_form_host_mismatch", b""), EVIL_R])

  # --- request line
  for name, line in [("target_no_slash", b"GET a HTTP/1.1"), ("target_asterisk_get", b"GET * HTTP/1.1"),
                     ("target_tab", b"GET /a\tb HTTP/1.1"), ("double_space", b"GET  /x HTTP/1.1"),
                     ("absolute_form_ftp", b"GET ftp://a/ HTTP/1.1"),
                     ("absolute_form_no_slashes", b"GET http:a/ HTTP/1.1"),
                     ("absolute_form_userinfo", b"GET http://u:p@a/ HTTP/1.1"),
                     ("absolute_form_empty_authority", b"GET http:/// HTTP/1.1"),
                     ("version_20", b"GET /x HTTP/2.0"), ("version_lowercase", b"GET /x http/1.1"),
                     ("version_leading_zero", b"GET /x HTTP/01.1"),
                     ("version_trailing_space", b"GET /x HTTP/1.1 "), ("version_09", b"GET /x HTTP/0.9"),
                     ("method_non_token", b"G(T /x HTTP/1.1"), ("method_leading_space", b" GET /x HTTP/1.1"),
                     ("method_tab_separator", b"GET\t/x HTTP/1.1"), ("request_line_no_space", b"GET")]:
    add(name, "reject", line + b"\r\nHost: test.local\r\n\r\n", None)
  add("http09", "reject", b"GET /http09\r\n\r\n", None)
  # Framing-neutral target defects: lenient, not smuggling, if forwarded unchanged.
  add("target_fragment", "reject", get("target_fragment#f"), G("target_fragment#f"))
  add("target_ctl", "reject", get("target_ctl\x01"), G("target_ctl\x01"))
  add("target_obs_text", "reject", get("target_obs_text\xc3\xa9"), G("target_obs_text\xc3\xa9"))

  # --- chunk framing (reject rows; all but the extension ones are invalid)
  for name, body in [("chunk_size_trailing_space", b"5 \r\nhello\r\n0\r\n\r\n"),
                     ("chunk_size_leading_space", b" 5\r\nhello\r\n0\r\n\r\n"),
                     ("chunk_size_tab", b"5\t\r\nhello\r\n0\r\n\r\n"),
                     ("chunk_size_0x", b"0x5\r\nhello\r\n0\r\n\r\n"),
                     ("chunk_size_plus", b"+5\r\nhello\r\n0\r\n\r\n"),
                     ("chunk_size_minus", b"-5\r\nhello\r\n0\r\n\r\n"),
                     ("chunk_size_empty", b"\r\nhello\r\n0\r\n\r\n"),
                     ("chunk_size_overflow", b"1ffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
                     ("chunk_size_bare_cr", b"5\rhello\r\n0\r\n\r\n"),
                     ("chunk_data_too_long", b"3\r\nhello\r\n0\r\n\r\n"),
                     ("chunk_data_bare_lf", b"5\r\nhello\n0\r\n\r\n"),
                     ("chunk_data_cr_only", b"5\r\nhello\r0\r\n\r\n"),
                     ("last_chunk_bare_lf", b"5\r\nhello\r\n0\n\r\n"),
                     ("final_crlf_bare_lf", b"5\r\nhello\r\n0\r\n\n"),
                     ("chunk_ext_empty_name", b"5;\r\nhello\r\n0\r\n\r\n"),
                     ("chunk_ext_two_names", b"5;a b\r\nhello\r\n0\r\n\r\n"),
                     ("chunk_ext_value_space", b"5;a=b c\r\nhello\r\n0\r\n\r\n"),
                     ("chunk_ext_empty_value", b"5;a=\r\nhello\r\n0\r\n\r\n"),
                     ("chunk_ext_quoted_lf", b'5;a="x\ny"\r\nhello\r\n0\r\n\r\n'),
                     ("chunk_ext_after_quote", b'5;a="x"y\r\nhello\r\n0\r\n\r\n'),
                     ("chunk_ext_ctl", b"5;a\x01\r\nhello\r\n0\r\n\r\n"),
                     ("chunk_size_above_int64", b"8000000000000000\r\nhello\r\n0\r\n\r\n"),
                     ("last_chunk_ext_empty_value", b"5\r\nhello\r\n0;a=\r\n\r\n")]:
    add(name, "reject", chunked(name, body), None)
  # Allowed by the chunk-ext grammar (RFC 9112 §7.1.1, BWS included): valid.
  for name, body in [("chunk_ext_space_before_semicolon", b"5 ;a=b\r\nhello\r\n0\r\n\r\n"),
                     ("chunk_ext_bws", b"5; a=b\r\nhello\r\n0\r\n\r\n"),
                     ("chunk_ext_quoted_pair", b'5;a="x\\"y"\r\nhello\r\n0\r\n\r\n'),
                     ("chunk_ext_after_token_value", b"5;a=b;c=d\r\nhello\r\n0\r\n\r\n"),
                     ("chunk_line_long_ext", b"5;a=" + b"x" * 4100 + b"\r\nhello\r\n0\r\n\r\n")]:
    add(name, "reject", chunked(name, body), P(name) + [EVIL_R], valid=True)
  # Trailers cannot change the framing already read: the reading stands; a forwarder that
  # merges Content-Length from a trailer into the head would desynchronise its upstream.
  for name, trailer in [("trailer_empty_name", b": x\r\n"),
                        ("trailer_content_length", b"Content-Length: 5\r\n"),
                        ("trailer_transfer_encoding", b"Transfer-Encoding: chunked\r\n"),
                        ("trailer_host", b"Host: evil\r\n"),
                        ("trailer_obs_fold", b"X: a\r\n b\r\n"),
                        ("trailer_space_before_colon", b"X : a\r\n"),
                        ("trailer_bad_name", b"X(: a\r\n"), ("trailer_bare_lf", b"X: a\n"),
                        ("trailer_bare_cr", b"X: a\rb\r\n")]:
    add(name, "reject", chunked(name, b"0\r\n" + trailer + b"\r\n"), P(name, b"") + [EVIL_R])
  return v


def _valid():
  v = []

  def add(name, raw, reading):
    v.append(Vector(name, "edge", raw, reading, valid=True))

  close = b"Connection: close\r\n"
  R = lambda n, body=b"", m=b"POST": [(m, _t(n), body)]

  def ck(name, chunks, extra=b""):
    return post(name, b"Transfer-Encoding: chunked\r\n" + close + extra, chunks)

  add("chunk_ext_multi", ck("chunk_ext_multi", b"5;a=1;b=2\r\nhello\r\n0\r\n\r\n"),
      R("chunk_ext_multi", b"hello"))
  add("chunk_ext_bws_both_sides", ck("chunk_ext_bws_both_sides",
                                     b"5 ; a = 1\r\nhello\r\n0\r\n\r\n"),
      R("chunk_ext_bws_both_sides", b"hello"))
  add("chunk_ext_quoted", ck("chunk_ext_quoted", b'5;a="x y;z"\r\nhello\r\n0\r\n\r\n'),
      R("chunk_ext_quoted", b"hello"))
  add("chunk_ext_name_only", ck("chunk_ext_name_only", b"5;flag\r\nhello\r\n0\r\n\r\n"),
      R("chunk_ext_name_only", b"hello"))
  add("last_chunk_ext", ck("last_chunk_ext", b"5\r\nhello\r\n0;done=1\r\n\r\n"),
      R("last_chunk_ext", b"hello"))
  add("chunk_trailer", ck("chunk_trailer", b"5\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n",
                          b"Trailer: X-Checksum\r\n"), R("chunk_trailer", b"hello"))
  add("chunk_uppercase_hex", ck("chunk_uppercase_hex", b"A\r\n0123456789\r\n0\r\n\r\n"),
      R("chunk_uppercase_hex", b"0123456789"))
  add("chunk_leading_zeros", ck("chunk_leading_zeros", b"0005\r\nhello\r\n0000\r\n\r\n"),
      R("chunk_leading_zeros", b"hello"))
  add("chunked_empty", ck("chunked_empty", b"0\r\n\r\n"), R("chunked_empty"))
  big = bytes((i * 7 + 3) % 251 for i in range(256 * 1024))
  many = b"".join(b"%x\r\n" % len(big[i:i + 4096]) + big[i:i + 4096] + b"\r\n"
                  for i in range(0, len(big), 4096)) + b"0\r\n\r\n"
  add("chunked_256k_in_4k_chunks", ck("chunked_256k_in_4k_chunks", many),
      R("chunked_256k_in_4k_chunks", big))
  add("te_case_insensitive", post("te_case_insensitive",
                                  b"Transfer-Encoding: Chunked\r\n" + close, HELLO_CHUNKED),
      R("te_case_insensitive", b"hello"))
  add("te_tab_ows", post("te_tab_ows", b"Transfer-Encoding:\tchunked\t\r\n" + close, HELLO_CHUNKED),
      R("te_tab_ows", b"hello"))
  add("te_leading_empty_element", post("te_leading_empty_element",
                                       b"Transfer-Encoding: , chunked\r\n" + close, HELLO_CHUNKED),
      R("te_leading_empty_element", b"hello"))
  add("cl_leading_zeros", post("cl_leading_zeros", b"Content-Length: 005\r\n" + close, b"hello"),
      R("cl_leading_zeros", b"hello"))
  add("cl_zero", post("cl_zero", b"Content-Length: 0\r\n" + close), R("cl_zero"))
  add("get_with_body", b"GET /get_with_body HTTP/1.1\r\nHost: test.local\r\nContent-Length: 5\r\n" +
      close + b"\r\nhello", R("get_with_body", b"hello", b"GET"))
  body1m = bytes((i * 13) % 256 for i in range(1 << 20))
  add("cl_1mib", post("cl_1mib", b"Content-Length: %d\r\n" % len(body1m) + close, body1m),
      R("cl_1mib", body1m))
  for m in [b"QUERY", b"PROPFIND", b"PURGE", b"LINK", b"FOO_BAR", b"get",
            b"X!#$%&'*+-.^_`|~1"]:
    name = "method_" + "".join(ch if ch.isalnum() else "_" for ch in m.decode())
    add(name, m + b" " + _t(name) + b" HTTP/1.1\r\nHost: test.local\r\nContent-Length: 5\r\n" +
        close + b"\r\nhello", R(name, b"hello", m))
  add("options_asterisk", b"OPTIONS * HTTP/1.1\r\nHost: test.local\r\n" + close + b"\r\n",
      [(b"OPTIONS", b"*", b"")])
  add("absolute_form", b"GET http://test.local/absolute_form?q=1 HTTP/1.1\r\nHost: test.local\r\n" +
      close + b"\r\n", [(b"GET", b"/absolute_form?q=1", b"")])
  add("target_all_pchars",
      b"GET /target_all_pchars/a%20b;p=1/~'!$&()*+,=:@?q=/?&x=%2F HTTP/1.1\r\nHost: test.local\r\n" +
      close + b"\r\n", [(b"GET", b"/target_all_pchars/a%20b;p=1/~'!$&()*+,=:@?q=/?&x=%2F", b"")])
  add("leading_crlf", b"\r\nGET /leading_crlf HTTP/1.1\r\nHost: test.local\r\n" + close + b"\r\n",
      R("leading_crlf", b"", b"GET"))
  add("header_obs_text_value", get("header_obs_text_value", b"X-Name: caf\xe9\r\n" + close),
      R("header_obs_text_value", b"", b"GET"))
  add("header_empty_value", get("header_empty_value", b"X-Empty:\r\n" + close),
      R("header_empty_value", b"", b"GET"))
  add("header_value_inner_tab", get("header_value_inner_tab", b"X-T: a\tb\r\n" + close),
      R("header_value_inner_tab", b"", b"GET"))
  add("version_http12", b"GET /version_http12 HTTP/1.2\r\nHost: test.local\r\n" + close + b"\r\n",
      R("version_http12", b"", b"GET"))
  add("header_12k_value", get("header_12k_value", b"X-Big: " + b"v" * 12288 + b"\r\n" + close),
      R("header_12k_value", b"", b"GET"))
  add("headers_48k_total", get("headers_48k_total", b"".join(
      b"X-Big-%d: %s\r\n" % (i, b"w" * 8000) for i in range(6)) + close),
      R("headers_48k_total", b"", b"GET"))
  add("headers_90_fields", get("headers_90_fields", b"".join(
      b"X-F%d: %d\r\n" % (i, i) for i in range(90)) + close), R("headers_90_fields", b"", b"GET"))
  long_target = "request_line_7k/" + "p" * 7000
  add("request_line_7k", get(long_target, close), R(long_target, b"", b"GET"))
  add("expect_100_continue_body_sent", post("expect_100_continue_body_sent",
                                            b"Expect: 100-continue\r\nContent-Length: 5\r\n" + close,
                                            b"hello"),
      R("expect_100_continue_body_sent", b"hello"))
  add("http10_post", b"POST /http10_post HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello",
      R("http10_post", b"hello"))
  add("http10_keepalive_then_close",
      b"GET /http10_ka1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
      b"GET /http10_ka2 HTTP/1.0\r\n\r\n",
      [(b"GET", b"/http10_ka1", b""), (b"GET", b"/http10_ka2", b"")])
  # Pipelining: several requests in one write, answered in order.
  add("pipeline_three_gets", get("pipe_get1") + get("pipe_get2") + get("pipe_get3", close),
      [(b"GET", b"/pipe_get1", b""), (b"GET", b"/pipe_get2", b""), (b"GET", b"/pipe_get3", b"")])
  add("pipeline_post_cl_then_get",
      post("pipe_post_cl", b"Content-Length: 5\r\n", b"hello") + get("pipe_after_cl", close),
      [(b"POST", b"/pipe_post_cl", b"hello"), (b"GET", b"/pipe_after_cl", b"")])
  add("pipeline_chunked_then_get",
      post("pipe_chunked", b"Transfer-Encoding: chunked\r\n", b"5;x=1\r\nhello\r\n0\r\n\r\n") +
      get("pipe_after_chunked", close),
      [(b"POST", b"/pipe_chunked", b"hello"), (b"GET", b"/pipe_after_chunked", b"")])
  add("pipeline_head_then_get",
      b"HEAD /pipe_head HTTP/1.1\r\nHost: test.local\r\n\r\n" + get("pipe_after_head", close),
      [(b"HEAD", b"/pipe_head", b""), (b"GET", b"/pipe_after_head", b"")])
  add("pipeline_unknown_method_then_get",
      b"QUERY /pipe_query HTTP/1.1\r\nHost: test.local\r\nContent-Length: 3\r\n\r\nabc" +
      get("pipe_after_query", close),
      [(b"QUERY", b"/pipe_query", b"abc"), (b"GET", b"/pipe_after_query", b"")])
  return v


def vectors():
  out = _malformed() + _valid()
  names = [x.name for x in out]
  dup = {n for n in names if names.count(n) > 1}
  if dup:
    raise ValueError(f"duplicate vector names: {sorted(dup)}")
  return out
