#!/usr/bin/env python3
"""Self cost per function from a callgrind dump, without callgrind_annotate (whose 3.19
version shows only inclusive totals for dumps taken with callgrind_control).

Usage: callgrind_profile.py FILE [TOP] [REQUESTS]
"""
import collections
import re
import sys

_NAMED = re.compile(r"^\((\d+)\)(?:\s+(.*))?$")


def self_costs(path):
  names = {"fn": {}, "ob": {}}
  cost = collections.Counter()
  fn, ob, skip_next = "?", "?", False
  total = 0

  def resolve(kind, value):
    m = _NAMED.match(value.strip())
    if not m:
      return value.strip()
    if m.group(2) is not None:
      names[kind][m.group(1)] = m.group(2)
    return names[kind].get(m.group(1), "?")

  with open(path) as f:
    for line in f:
      if not line or line[0] == "\n":
        continue
      c = line[0]
      if c.isdigit() or c in "+-*":
        if skip_next:  # inclusive cost of the call on the previous line: not ours
          skip_next = False
          continue
        parts = line.split()
        if len(parts) >= 2:
          n = int(parts[1])
          cost[(fn, ob)] += n
          total += n
        continue
      key, _, value = line.partition("=")
      if key == "fn":
        fn = resolve("fn", value)
      elif key == "ob":
        ob = resolve("ob", value)
      elif key in ("cfn", "cfl", "cfi"):
        if key == "cfn":
          resolve("fn", value)
      elif key == "cob":
        resolve("ob", value)
      elif key == "calls":
        skip_next = True
  return cost, total


def render(path, top=25, requests=1):
  cost, total = self_costs(path)
  rows = [f"{'self Ir/req':>12} {'share':>6}  function [object]"]
  for (fn, ob), n in cost.most_common(top):
    rows.append(f"{n / requests:12,.0f} {100 * n / total:5.1f}%  {fn} [{ob.rsplit('/', 1)[-1]}]")
  return "\n".join(rows), total


if __name__ == "__main__":
  top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
  req = int(sys.argv[3]) if len(sys.argv) > 3 else 1
  text, total = render(sys.argv[1], top, req)
  print(text)
  print(f"total Ir {total:,}")
