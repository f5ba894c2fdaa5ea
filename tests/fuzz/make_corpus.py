#!/usr/bin/env python3
"""Regenerates the fuzzers' seed corpora and the config dictionary from the test corpora.

    python3 tests/fuzz/make_corpus.py          # rewrites tests/fuzz/corpus/*/ and config.dict

Seeds come from what the project already tests with, so every fuzzing run starts from
inputs that reach deep into the code:
  request   HTTP requests in the string literals of the smuggling corpus and the other
            integration tests, and of the parser, field-rule and serializer unit tests
  response  HTTP responses in the same tests and the scripted test upstream
  chunked   the bodies of the chunked messages among them, and bare chunked bodies
  config    conf/sidemeter.example.yaml, the benchmark configs, and the YAML texts of
            the config unit tests
  proxy_protocol  PROXY protocol v1/v2 headers (good, truncated and malformed ones, as in
            tests/proxy/net/proxy_protocol_test.cc), followed by a request, under each
            accepted-version option
The HTTP targets read two option bytes before the message (tests/fuzz/fuzz_support.h);
seeds carry "\\x00\\x00" (default options, one read). A file is named by the SHA-1 of
its content, as libFuzzer names what it finds, and the script owns the directories:
files it did not generate are removed, so the corpora stay reproducible. Inputs found
while fuzzing that should be kept go into the test corpora (a unit test), not here.
"""
import hashlib
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FUZZ = os.path.join(ROOT, "tests", "fuzz")

HTTP_SOURCES = [
    "tests/integration/*.cc",
    "tests/integration/*.h",
    "tests/proxy/http1/*.cc",
    "tests/proxy/http1/*.h",
    "tests/support/test_upstream.cc",
    "tests/support/raw_client.cc",
    "tests/proxy/demo/demo_test.cc",
]
CONFIG_SOURCES = ["tests/conf/*.cc"]
CONFIG_FILES = ["conf/sidemeter.example.yaml", "tests/bench/conf/*.yaml",
                "deploy/kubernetes/base/configmap.yaml"]
OPTIONS = b"\x00\x00"  # option byte, read-split seed
MAX_SEED = 64 * 1024


def sources(patterns):
    import glob
    out = []
    for p in patterns:
        out.extend(sorted(glob.glob(os.path.join(ROOT, p))))
    return out


# ------------------------------------------------------------------ C++ string literals

SIMPLE_ESCAPES = {"n": 10, "r": 13, "t": 9, "0": 0, "a": 7, "b": 8, "f": 12, "v": 11,
                  "\\": 92, "'": 39, '"': 34, "?": 63}


def decode_literal(body):
    """The bytes of an ordinary C++ string literal's body (between the quotes)."""
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        i += 1
        e = body[i]
        if e == "x":  # hex escapes take every hex digit that follows, as in C++
            j = i + 1
            while j < len(body) and body[j] in "0123456789abcdefABCDEF":
                j += 1
            out.append(int(body[i + 1:j], 16) & 0xFF)
            i = j
        elif e in "01234567":
            j = i
            while j < len(body) and j < i + 3 and body[j] in "01234567":
                j += 1
            out.append(int(body[i:j], 8) & 0xFF)
            i = j
        else:
            out.append(SIMPLE_ESCAPES.get(e, ord(e)))
            i += 1
    return bytes(out)


TOKEN = re.compile(
    r'''(?P<comment>//[^\n]*|/\*.*?\*/)'''
    r'''|(?P<raw>(?:u8|u|U|L)?R"(?P<delim>[^(\s]*)\((?P<rawbody>.*?)\)(?P=delim)")'''
    r'''|(?P<str>(?:u8|u|U|L)?"(?P<body>(?:[^"\\\n]|\\.)*)"s?)'''
    r'''|(?P<char>'(?:[^'\\\n]|\\.)*')'''
    r'''|(?P<id>[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)'''
    r'''|(?P<op>\S)''', re.S)


def tokens(text):
    for m in TOKEN.finditer(text):
        if m.group("comment") or m.group("char"):
            continue
        if m.group("raw") is not None:
            yield ("str", m.group("rawbody").encode("utf-8"))
        elif m.group("str") is not None:
            yield ("str", decode_literal(m.group("body")))
        elif m.group("id") is not None:
            yield ("id", m.group("id"))
        else:
            yield ("op", m.group("op"))


def string_expressions(text):
    """Every maximal `a "b" + name + std::string("c")` expression, evaluated. Names are
    those assigned a string expression earlier in the same file (`const std::string
    evil = "..."`); anything else ends the expression."""
    toks = list(tokens(text))
    known = {}
    found = []
    i = 0

    def operand(i):
        # -> (bytes, next index) or None
        if i < len(toks) and toks[i][0] == "str":
            val = b""
            while i < len(toks) and toks[i][0] == "str":  # adjacent literals concatenate
                val += toks[i][1]
                i += 1
            return val, i
        if i < len(toks) and toks[i][0] == "id":
            name = toks[i][1]
            if name in ("std::string", "string") and i + 3 < len(toks) and \
                    toks[i + 1] == ("op", "(") and toks[i + 2][0] == "str":
                r = operand(i + 2)
                if r and r[1] < len(toks) and toks[r[1]] == ("op", ")"):
                    return r[0], r[1] + 1
            if name in known:
                return known[name], i + 1
        return None

    while i < len(toks):
        r = operand(i)
        if r is None:
            i += 1
            continue
        val, j = r
        while j + 1 < len(toks) and toks[j] == ("op", "+"):
            nxt = operand(j + 1)
            if nxt is None:
                break
            val += nxt[0]
            j = nxt[1]
        # `name = <expression>`: remember it for later expressions
        if i >= 2 and toks[i - 1] == ("op", "=") and toks[i - 2][0] == "id":
            known[toks[i - 2][1]] = val
        found.append(val)
        i = j
    return found


# ------------------------------------------------------------------ classification

REQUEST = re.compile(rb"^(?:\r?\n)*[!#$%&'*+.^_`|~0-9A-Za-z-]+ [^\s]")
RESPONSE = re.compile(rb"^HTTP/")
CHUNK_LINE = re.compile(rb"^[0-9a-fA-F]+(?:[ \t]*;[^\r\n]*)?\r\n")
CHUNKED_HEAD = re.compile(rb"transfer-encoding:[ \t]*[^\r\n]*chunked", re.I)


def http_seeds():
    requests, responses, chunked = set(), set(), set()
    for path in sources(HTTP_SOURCES):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for val in string_expressions(text):
            if not val or len(val) > MAX_SEED:
                continue
            if b"\n" in val and RESPONSE.match(val):
                responses.add(val)
            elif b"\n" in val and REQUEST.match(val) and b"HTTP/" in val:
                requests.add(val)
            elif CHUNK_LINE.match(val):
                chunked.add(val)
                continue
            else:
                continue
            # The body of a chunked message is a chunked seed of its own.
            head_end = val.find(b"\r\n\r\n")
            if head_end >= 0 and CHUNKED_HEAD.search(val[:head_end]):
                body = val[head_end + 4:]
                if body:
                    chunked.add(body)
    return requests, responses, chunked


YAML_LIKE = re.compile(rb"^\s*[A-Za-z_][A-Za-z0-9_]*\s*:", re.M)


def config_seeds():
    seeds = set()
    for path in sources(CONFIG_FILES):
        with open(path, "rb") as f:
            seeds.add(f.read())
    for path in sources(CONFIG_SOURCES):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for val in string_expressions(text):
            if YAML_LIKE.search(val) and len(val) <= MAX_SEED:
                seeds.add(val)
    return seeds


def config_dictionary():
    """Every key of the example config, and the words its values and comments use for
    enumerations, as libFuzzer dictionary entries."""
    with open(os.path.join(ROOT, "conf", "sidemeter.example.yaml"), encoding="utf-8") as f:
        text = f.read()
    words = set()
    for line in text.splitlines():
        body = line.split("#", 1)[0]
        m = re.match(r"\s*-?\s*([A-Za-z_][A-Za-z0-9_]*):", body)
        if m:
            words.add(m.group(1) + ":")
        m = re.match(r"\s*-?\s*[A-Za-z_][A-Za-z0-9_]*:\s*(\S.*?)\s*$", body)
        if m and len(m.group(1)) <= 40:
            words.add(m.group(1).strip('"'))
    words |= {"${", "}", ":-", "$${", "\n  ", "\n    ", "- ", "[]", "{}", "true", "false",
              "null", "~", "&a", "*a", "<<:", "!!str", "'", '"', "|", ">", "---", "...",
              "ms", "s", "m", "h", "0", "-1", "1e9", "[::1]:0", "127.0.0.1:0"}

    def quote(w):
        return '"' + "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "\\x%02x" % ord(c)
                             for c in w) + '"'
    lines = ["# Generated by make_corpus.py from conf/sidemeter.example.yaml: its keys and values."]
    lines += [quote(w) for w in sorted(words) if w]
    return "\n".join(lines) + "\n"


def proxy_protocol_seeds():
    """Option byte (versions accepted: 0 any, 1 v1, 2 v2), read-split byte, then bytes."""
    import socket
    import struct
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    req = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"

    def v2(ver_cmd, fam, body):
        return sig + bytes([ver_cmd, fam]) + struct.pack("!H", len(body)) + body

    def tcp4(src, dst, sp, dp):
        return socket.inet_pton(socket.AF_INET, src) + socket.inet_pton(socket.AF_INET, dst) + \
            struct.pack("!HH", sp, dp)

    def tcp6(src, dst, sp, dp):
        return socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) + \
            struct.pack("!HH", sp, dp)

    ff = b"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    headers = [
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
        b"PROXY TCP6 2001:db8::1 ::1 0 65535\r\n",
        b"PROXY UNKNOWN\r\n",
        b"PROXY UNKNOWN " + ff + b" " + ff + b" 65535 65535\r\n",
        b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        b"PROXY TCP4 1.2.3.4",
        v2(0x21, 0x11, tcp4("203.0.113.7", "10.0.0.1", 40000, 443) + b"\x01\x00\x02h2"),
        v2(0x21, 0x21, tcp6("2001:db8::42", "2001:db8::1", 1, 8080) + b"\x20\x00\x03ssl"),
        v2(0x20, 0x00, b""),
        v2(0x21, 0x12, tcp4("1.2.3.4", "5.6.7.8", 1, 2)),
        v2(0x21, 0x31, b"u" * 216),
        v2(0x21, 0x11, tcp4("1.2.3.4", "5.6.7.8", 1, 2) + b"\x01\x00"),
        v2(0x11, 0x11, tcp4("1.2.3.4", "5.6.7.8", 1, 2)),
        sig + b"\x21\x11\xff\xff",
        sig[:7],
    ]
    out = []
    for h in headers:
        for option in (0, 1, 2):
            out.append(bytes([option, 0]) + h + req)
        out.append(bytes([0, 7]) + h + req)  # in reads of 1-64 bytes
    out.append(b"\x00\x00" + req)
    return out


def write_corpus(name, seeds, prefix):
    d = os.path.join(FUZZ, "corpus", name)
    os.makedirs(d, exist_ok=True)
    wanted = {}
    for s in seeds:
        data = prefix + s
        wanted[hashlib.sha1(data).hexdigest()] = data
    for f in os.listdir(d):
        if f not in wanted:
            os.remove(os.path.join(d, f))
    for h, data in wanted.items():
        with open(os.path.join(d, h), "wb") as f:
            f.write(data)
    return len(wanted)


def main():
    requests, responses, chunked = http_seeds()
    counts = {
        "request": write_corpus("request", requests, OPTIONS),
        "response": write_corpus("response", responses, OPTIONS),
        "chunked": write_corpus("chunked", chunked, OPTIONS),
        "config": write_corpus("config", config_seeds(), b""),
        "proxy_protocol": write_corpus("proxy_protocol", proxy_protocol_seeds(), b""),
    }
    with open(os.path.join(FUZZ, "config.dict"), "w", encoding="utf-8") as f:
        f.write(config_dictionary())
    for k, v in counts.items():
        print(f"{k}: {v} seeds")
    if min(counts.values()) == 0:
        sys.exit("an empty corpus: did the test sources move?")


if __name__ == "__main__":
    main()
