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
std::set<std::string> keys_of(const std::string& yaml) {
  std::set<std::string> keys;
  std::vector<std::pair<size_t, std::string>> stack;  // indentation, name
  std::istringstream in(yaml);
  for (std::string line; std::getline(in, line);) {
    size_t indent = line.find_first_not_of(' ');
    if (indent == std::string::npos || line[indent] == '#') continue;
    size_t colon = line.find(':', indent);
    if (colon == std::string::npos) continue;
    while (!stack.empty() && stack.back().first >= indent) stack.pop_back();
    std::string path;
    for (const auto& [unused, name] : stack) path += name + ".";
    std::string name = line.substr(indent, colon - indent);
    std::string rest = line.substr(colon + 1);
    size_t value = rest.find_first_not_of(' ');
    if (value == std::string::npos || rest[value] == '#') {
      stack.emplace_back(indent, name);  // a section
    } else {
      keys.insert(path + name);
    }
  }
  return keys;
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
  std::set<std::string> in_example = keys_of(read(source_root() + "/conf/sidemeter.example.yaml"));
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
