// The example config and the README's reference must name every key of the schema; the
// example must also be exactly the defaults. SIDEMETER_SOURCE_ROOT is set by meson.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "conf/config.h"
#include "tests/conf/load_text.h"

using namespace sidemeter::conf;
using namespace sidemeter::conf::testing;

namespace {

std::string source_root() {
  const char* root = std::getenv("SIDEMETER_SOURCE_ROOT");
  return root == nullptr ? "" : root;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The dotted key paths of a block-style YAML file, from indentation alone (the example is
// written that way; a flow mapping there would make this test fail, not pass wrongly).
// "- key: v" starts a list item whose keys are the list key's ("rules.name").
std::set<std::string> keys_of(const std::string& yaml) {
  std::set<std::string> keys;
  std::vector<std::pair<size_t, std::string>> stack;  // indentation, name
  std::istringstream in(yaml);
  for (std::string line; std::getline(in, line);) {
    size_t indent = line.find_first_not_of(' ');
    if (indent == std::string::npos || line[indent] == '#') continue;
    if (line.compare(indent, 2, "- ") == 0) indent = line.find_first_not_of(' ', indent + 1);
    size_t colon = line.find(':', indent);
    if (colon == std::string::npos) continue;
    while (!stack.empty() && stack.back().first >= indent) stack.pop_back();
    std::string path;
    for (const auto& [unused, name] : stack) path += name + ".";
    std::string name = line.substr(indent, colon - indent);
    std::string rest = line.substr(colon + 1);
    size_t value = rest.find_first_not_of(' ');
    // Pushed either way: a key with a value ("rules: []") may have example items below.
    stack.emplace_back(indent, name);
    if (value != std::string::npos && rest[value] != '#') keys.insert(path + name);
  }
  return keys;
}

// The example's commented-out list items, uncommented: a line "#- key: v" starts one,
// and lines "#  key: v" with the '#' in the same column continue it.
std::string example_items(const std::string& yaml) {
  std::string out;
  std::istringstream in(yaml);
  size_t column = std::string::npos;  // of the '#' of the item being read
  for (std::string line; std::getline(in, line);) {
    size_t hash = line.find_first_not_of(' ');
    bool start = hash != std::string::npos && line.compare(hash, 2, "#-") == 0;
    bool more = column != std::string::npos && hash == column &&
                line.compare(hash, 3, "#  ") == 0 && line.size() > hash + 3 &&
                line[hash + 3] != ' ';
    if (start) column = hash;
    if (!start && !more) {
      column = std::string::npos;
      out += line + "\n";
      continue;
    }
    line[hash] = ' ';
    out += line + "\n";
  }
  return out;
}

}  // namespace

TEST(Docs, ExampleConfigIsTheDefaults) {
  ASSERT_NE(source_root(), "") << "SIDEMETER_SOURCE_ROOT not set";
  CommandLine cli;
  cli.config_path = source_root() + "/conf/sidemeter.example.yaml";
  LoadResult example = load(cli, fake_env());
  ASSERT_TRUE(example.config) << ::testing::PrintToString(example.errors);
  LoadResult defaults = load(CommandLine{}, fake_env());
  ASSERT_TRUE(defaults.config);
  EXPECT_EQ(example.config->hash, defaults.config->hash);
}

TEST(Docs, ExampleConfigHasEveryKey) {
  ASSERT_NE(source_root(), "");
  std::set<std::string> in_example =
      keys_of(example_items(read(source_root() + "/conf/sidemeter.example.yaml")));
  std::vector<std::string> schema = schema_keys();
  EXPECT_EQ(in_example, std::set<std::string>(schema.begin(), schema.end()));
}

TEST(Docs, ReadmeReferenceHasEveryKey) {
  ASSERT_NE(source_root(), "");
  std::string readme = read(source_root() + "/README.md");
  ASSERT_NE(readme, "");
  for (const std::string& key : schema_keys())
    EXPECT_NE(readme.find("| `" + key + "` |"), std::string::npos) << key;
}

TEST(Docs, KeysOfParsesNesting) {
  EXPECT_EQ(keys_of("a: 1\nb:\n  c: 2  # x\n  d:\n    e: 3\nf: 4\n"),
            (std::set<std::string>{"a", "b.c", "b.d.e", "f"}));
}

TEST(Docs, KeysOfReadsListItems) {
  EXPECT_EQ(keys_of("a:\n  l: []\n  m:\n    - x: 1\n      y: 2\n    - x: 3\nb: 4\n"),
            (std::set<std::string>{"a.l", "a.m.x", "a.m.y", "b"}));
  EXPECT_EQ(keys_of(example_items("a:\n  l: []  # e.g.\n  #- x: 1  # c\n  #  y: 2\n"
                                  "  # prose: not a key\nb: 1\n")),
            (std::set<std::string>{"a.l", "a.l.x", "a.l.y", "b"}));
}
