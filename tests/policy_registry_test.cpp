// The registry of policies (sched/policy_registry.h, core/policy_list.h):
// every value of xs_policy_t has one row, the names are unique and reach
// every way in (XSCHED_POLICY, the C API, make_policy), and each policy's
// window rule is what the schedulers have always applied.
#include "sched/policy_registry.h"

#include <gtest/gtest.h>

#include <cctype>
#include <climits>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>

#include "core/config.h"
#include "xsched/xsched.h"

namespace xsched {
namespace {

// The members of xs_policy_t as the public header spells them, but
// XS_POLICY_MAX_ENUM: the header is read, so a value added there without a
// row is caught here.
std::map<std::string, long> enum_members() {
  std::ifstream in(XSCHED_PUBLIC_HEADER);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Read by hand, not with <regex>: GCC 12 warns inside <regex> under the asan preset.
  std::map<std::string, long> out;
  const std::string prefix = "XS_POLICY_";
  const auto is_name = [](char c) {
    return std::isupper(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_';
  };
  for (std::size_t at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at + 1)) {
    if (at > 0 && is_name(text[at - 1])) continue;  // inside a longer name
    std::size_t end = at;
    while (end < text.size() && is_name(text[end])) ++end;
    std::size_t eq = end;
    while (eq < text.size() && std::isspace(static_cast<unsigned char>(text[eq]))) ++eq;
    if (eq >= text.size() || text[eq] != '=') continue;  // a use, not a member
    std::size_t value = eq + 1;
    while (value < text.size() && std::isspace(static_cast<unsigned char>(text[value]))) ++value;
    if (value >= text.size() || !std::isdigit(static_cast<unsigned char>(text[value]))) continue;
    const std::string name = text.substr(at, end - at);
    if (name != "XS_POLICY_MAX_ENUM") out[name] = std::stol(text.substr(value), nullptr, 0);
  }
  return out;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

TEST(PolicyRegistry, EveryEnumValueHasOneRowWithAUniqueName) {
  const auto members = enum_members();
  ASSERT_GE(members.size(), 4u) << "could not read xs_policy_t from " << XSCHED_PUBLIC_HEADER;
  EXPECT_EQ(members.size(), policy_classes().size());
  std::set<std::string> names;
  for (const auto& [member, value] : members) {
    const PolicyClass* c = find_policy_class(static_cast<xs_policy_t>(value));
    ASSERT_NE(c, nullptr) << member << " has no row";
    EXPECT_EQ(static_cast<long>(c->kind), value);
    EXPECT_EQ("XS_POLICY_" + upper(c->name), member) << "the row's name is not the member's";
    EXPECT_TRUE(names.insert(c->name).second) << c->name << " named twice";
    EXPECT_GT(std::string(c->description).size(), 10u) << c->name;
  }
  for (std::size_t i = 0; i < policy_classes().size(); ++i) {
    EXPECT_EQ(static_cast<std::size_t>(policy_classes()[i].kind), i) << "rows follow the enum";
  }
}

TEST(PolicyRegistry, EachRowMakesItsPolicy) {
  for (const PolicyClass& c : policy_classes()) {
    auto p = c.make(2'000'000);
    ASSERT_NE(p, nullptr) << c.name;
    EXPECT_EQ(p->kind(), c.kind) << c.name;
    auto q = make_policy(c.kind, 2'000'000);
    ASSERT_NE(q, nullptr) << c.name;
    EXPECT_EQ(q->kind(), c.kind) << c.name;
  }
  // Values within the enum's range (others cannot be cast to it in C++;
  // c_api_limits_test passes them from C).
  for (long bad : {static_cast<long>(kPolicyCount), 77L, static_cast<long>(INT_MAX)}) {
    EXPECT_EQ(find_policy_class(static_cast<xs_policy_t>(bad)), nullptr) << bad;
    EXPECT_EQ(make_policy(static_cast<xs_policy_t>(bad), 2'000'000), nullptr) << bad;
  }
}

TEST(PolicyRegistry, NamesRoundTripThroughTheCApiAndTheEnvironment) {
  for (const PolicyClass& c : policy_classes()) {
    EXPECT_STREQ(xs_policy_name(c.kind), c.name);
    xs_policy_t back = XS_POLICY_MAX_ENUM;
    ASSERT_EQ(xs_policy_from_name(c.name, &back), XS_OK) << c.name;
    EXPECT_EQ(back, c.kind);
    ASSERT_EQ(xs_policy_from_name(upper(c.name).c_str(), &back), XS_OK) << c.name;  // any case
    EXPECT_EQ(back, c.kind);
    const std::string var = std::string("XSCHED_POLICY=") + c.name;
    const char* env[] = {var.c_str(), nullptr};
    std::vector<std::string> warnings;
    EXPECT_EQ(parse_config(env, &warnings).policy, c.kind) << var;
    EXPECT_TRUE(warnings.empty()) << var;
    EXPECT_NE(policy_names(", ").find(c.name), std::string::npos);
    EXPECT_NE(policy_help("  ").find(c.description), std::string::npos);
  }
  EXPECT_STREQ(xs_policy_name(static_cast<xs_policy_t>(kPolicyCount)), "unknown");
  xs_policy_t out{};
  EXPECT_EQ(xs_policy_from_name("unknown", &out), XS_ERR_INVALID_ARG);
}

TEST(PolicyRegistry, TheCApiSwitchesToEveryPolicy) {
  xs_policy_t before{};
  ASSERT_EQ(xs_get_policy(&before), XS_OK);
  for (const PolicyClass& c : policy_classes()) {
    ASSERT_EQ(xs_set_policy(c.kind), XS_OK) << c.name;
    xs_policy_t now{};
    ASSERT_EQ(xs_get_policy(&now), XS_OK);
    EXPECT_EQ(now, c.kind);
  }
  EXPECT_EQ(xs_set_policy(static_cast<xs_policy_t>(kPolicyCount)), XS_ERR_INVALID_ARG);
  ASSERT_EQ(xs_set_policy(before), XS_OK);
}

// Which queues keep a window is each policy's own rule now; these are the
// answers the schedulers have always given, per policy.
TEST(PolicyRegistry, WindowRulesAreThePoliciesOwn) {
  struct Case {
    WindowContext c;
    int32_t priority;
    bool used;
  };
  const Case cases[] = {{{0, INT32_MIN}, 0, false}, {{1, 5}, 5, true},  {{1, 5}, 0, false},
                        {{2, 5}, 5, true},         {{2, 5}, 3, true}, {{2, 5}, 3, false}};
  for (const PolicyClass& pc : policy_classes()) {
    auto p = pc.make(2'000'000);
    for (const Case& k : cases) {
      bool want = k.c.used > 1 || (k.c.used == 1 && !k.used);  // another queue that had work may take over
      if (pc.kind == XS_POLICY_NONE) want = false;
      if (pc.kind == XS_POLICY_PRIORITY) want = k.priority < k.c.top_priority;
      EXPECT_EQ(p->window_bounded(k.c, k.priority, k.used), want)
          << pc.name << ": used " << k.c.used << ", top " << k.c.top_priority << ", priority " << k.priority
          << (k.used ? ", used" : "");
    }
    EXPECT_EQ(p->confines_by_priority(), pc.kind == XS_POLICY_PRIORITY) << pc.name;
  }
}

}  // namespace
}  // namespace xsched
