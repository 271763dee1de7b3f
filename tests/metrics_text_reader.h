// Reads the Prometheus text format (0.0.4) back by its rules, independently
// of the writer (core/metrics_text.h): for the tests of xschedd's metrics and
// of a process's metrics file.
#pragma once

#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace xsched::metrics_test {

// A sample line, read back by the text format's rules (independently of the writer).
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped
  double value = 0;
};

inline constexpr char kLetters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";
inline constexpr char kDigits[] = "0123456789";

// The length of the name (of a metric, or with colons: false, of a label) at the start of s.
inline std::size_t name_length(std::string_view s, bool colons) {
  const std::string first = std::string(kLetters) + (colons ? ":" : "");
  if (s.empty() || first.find(s[0]) == std::string::npos) return 0;
  const auto end = s.find_first_not_of(first + kDigits);
  return end == std::string_view::npos ? s.size() : end;
}

// Reads `name{a="x",...} value`; false (with *why) for anything the format forbids.
inline bool read_sample(const std::string& line, Sample* s, std::string* why) {
  const std::size_t n = name_length(line, true);
  if (n == 0) return *why = "no metric name", false;
  s->name = line.substr(0, n);
  std::size_t i = n;
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      const std::size_t eq = line.find("=\"", i);
      if (eq == std::string::npos) return *why = "a label without =\"", false;
      const std::string key = line.substr(i, eq - i);
      if (key.empty() || name_length(key, false) != key.size()) return *why = "bad label name " + key, false;
      std::string value;
      for (i = eq + 2; i < line.size() && line[i] != '"'; ++i) {
        if (line[i] != '\\') {
          value += line[i];
          continue;
        }
        if (++i >= line.size()) return *why = "a backslash at the end", false;
        if (line[i] == 'n') {
          value += '\n';
        } else if (line[i] == '\\' || line[i] == '"') {
          value += line[i];
        } else {
          return *why = std::string("invalid escape \\") + line[i], false;
        }
      }
      if (i >= line.size()) return *why = "an unterminated label value", false;
      s->labels[key] = value;
      ++i;
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return *why = "no closing brace", false;
    ++i;
  }
  if (i >= line.size() || line[i] != ' ') return *why = "no space before the value", false;
  const std::string v = line.substr(i + 1);
  char* end = nullptr;
  s->value = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0') return *why = "value '" + v + "' is not a number", false;
  return true;
}

inline bool valid_utf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    }
    i += n;
  }
  return true;
}

// The whole exposition checked line by line: each family's HELP and TYPE
// once, before its samples, which stand together; counters end in _total.
inline std::vector<Sample> read_exposition(const std::string& text) {
  EXPECT_TRUE(valid_utf8(text));
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  std::vector<Sample> out;
  std::set<std::string> families;
  std::string family, type;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("# HELP ")) {
      const std::string rest = line.substr(7);
      const std::size_t n = name_length(rest, true);
      EXPECT_TRUE(n > 0 && n + 1 < rest.size() && rest[n] == ' ') << line;
      EXPECT_EQ(rest.find('\\'), std::string::npos) << "an escape in HELP: " << line;
      family = rest.substr(0, n);
      EXPECT_TRUE(families.insert(family).second) << "family " << family << " twice";
      type.clear();
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      EXPECT_TRUE(line == "# TYPE " + family + " counter" || line == "# TYPE " + family + " gauge" ||
                  line == "# TYPE " + family + " histogram")
          << "TYPE without its HELP, or an unknown type: " << line;
      type = line.substr(line.rfind(' ') + 1);
      if (type == "counter") {
        EXPECT_TRUE(family.ends_with("_total")) << family;
      }
      continue;
    }
    Sample s;
    std::string why;
    EXPECT_TRUE(read_sample(line, &s, &why)) << why << ": " << line;
    std::string base = s.name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (type == "histogram" && base.ends_with(suffix)) base.resize(base.size() - std::strlen(suffix));
    }
    EXPECT_EQ(base, family) << "a sample outside its family: " << line;
    EXPECT_FALSE(type.empty()) << "a sample before its TYPE: " << line;
    out.push_back(s);
  }
  return out;
}

// The samples of `name` whose labels include `want`.
inline std::vector<Sample> find(const std::vector<Sample>& all, const std::string& name,
                         const std::map<std::string, std::string>& want = {}) {
  std::vector<Sample> out;
  for (const Sample& s : all) {
    bool match = s.name == name;
    for (const auto& [k, v] : want) match = match && s.labels.count(k) != 0 && s.labels.at(k) == v;
    if (match) out.push_back(s);
  }
  return out;
}

}  // namespace xsched::metrics_test
