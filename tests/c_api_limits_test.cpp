// What the C API accepts: hints within their documented ranges (and a
// scheduler that stays live with the smallest ones), enum arguments that are
// members of their enum, and struct sizes by the rule of xsched.h.
#include <gtest/gtest.h>

#include <climits>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "hang_watchdog.h"
#include "xsched/xsched.h"

// tests/c_api_enum_args.c: calls made from C with plain ints.
extern "C" {
xs_result_t enum_args_queue_create(int platform, void* native_queue, xs_queue_t* out);
xs_result_t enum_args_queue_create_at_level(void* native_queue, int level, xs_queue_t* out);
xs_result_t enum_args_submit(xs_queue_t q, int kind);
xs_result_t enum_args_set_policy(int policy);
const char* enum_args_policy_name(int policy);
const char* enum_args_result_string(int result);
}

namespace {

using namespace std::chrono_literals;
using xsched::testing::HangWatchdog;

// The documented ranges (xsched.h, xs_hints_t).
constexpr int32_t kMinPriority = -1'000'000;
constexpr int32_t kMaxPriority = 1'000'000;
constexpr uint32_t kMaxShare = 1'000'000;
constexpr int64_t kMinTimesliceNs = 100'000;
constexpr int64_t kMaxTimesliceNs = 10'000'000'000;
constexpr int64_t kMinDeadlineNs = 100'000;
constexpr int64_t kMaxDeadlineNs = 3'600'000'000'000;

struct Device {
  Device() {
    EXPECT_EQ(xs_host_device_create(1, &dev), XS_OK);
    for (xs_host_stream_t& s : streams) EXPECT_EQ(xs_host_stream_create(dev, &s), XS_OK);
  }
  ~Device() {
    for (xs_host_stream_t s : streams) EXPECT_EQ(xs_host_stream_destroy(s), XS_OK);
    EXPECT_EQ(xs_host_device_destroy(dev), XS_OK);
  }
  xs_host_device_t dev = nullptr;
  xs_host_stream_t streams[3] = {};
};

xs_hints_t hints_of(xs_queue_t q) {
  xs_queue_info_t info;
  xs_queue_info_init(&info);
  EXPECT_EQ(xs_queue_query(q, &info), XS_OK);
  return info.hints;
}

bool same(const xs_hints_t& a, const xs_hints_t& b) {
  return a.priority == b.priority && a.share == b.share && a.timeslice_ns == b.timeslice_ns &&
         a.deadline_ns == b.deadline_ns;
}

std::string str(const xs_hints_t& h) {
  return "{" + std::to_string(h.priority) + ", " + std::to_string(h.share) + ", " + std::to_string(h.timeslice_ns) +
         ", " + std::to_string(h.deadline_ns) + "}";
}

TEST(ApiHintLimits, HintsOutsideTheirRangesAreRefusedAndChangeNothing) {
  Device d;
  xs_queue_t q = nullptr;
  ASSERT_EQ(xs_queue_create(XS_PLATFORM_HOST, d.streams[0], nullptr, &q), XS_OK);
  const xs_hints_t before{7, 3, 0, 0};
  ASSERT_EQ(xs_queue_set_hints(q, &before), XS_OK);
  const std::vector<xs_hints_t> bad = {
      {kMaxPriority + 1, 1, 0, 0},      {kMinPriority - 1, 1, 0, 0},       {INT32_MAX, 1, 0, 0},
      {INT32_MIN, 1, 0, 0},             {0, 0, 0, 0},                      {0, kMaxShare + 1, 0, 0},
      {0, 1, 1, 0},                     {0, 1, kMinTimesliceNs - 1, 0},    {0, 1, kMaxTimesliceNs + 1, 0},
      {0, 1, -1, 0},                    {0, 1, 0, 1},                      {0, 1, 0, kMinDeadlineNs - 1},
      {0, 1, 0, kMaxDeadlineNs + 1},    {0, 1, 0, -1},                     {0, 1, INT64_MAX, INT64_MAX}};
  for (const xs_hints_t& h : bad) {
    EXPECT_EQ(xs_queue_set_hints(q, &h), XS_ERR_INVALID_ARG) << str(h);
    EXPECT_TRUE(same(hints_of(q), before)) << str(h);
  }
  const std::vector<xs_hints_t> good = {{kMinPriority, 1, kMinTimesliceNs, kMinDeadlineNs},
                                        {kMaxPriority, kMaxShare, kMaxTimesliceNs, kMaxDeadlineNs},
                                        {0, 1, 0, 0}};
  for (const xs_hints_t& h : good) {
    EXPECT_EQ(xs_queue_set_hints(q, &h), XS_OK) << str(h);
    EXPECT_TRUE(same(hints_of(q), h)) << str(h);
  }

  for (int32_t p : {kMaxPriority + 1, kMinPriority - 1, INT32_MAX, INT32_MIN}) {
    EXPECT_EQ(xs_queue_set_priority(q, p), XS_ERR_INVALID_ARG) << p;
    EXPECT_EQ(xs_thread_priority_push(p), XS_ERR_INVALID_ARG) << p;
  }
  EXPECT_EQ(hints_of(q).priority, 0);
  EXPECT_EQ(xs_queue_set_priority(q, kMaxPriority), XS_OK);
  EXPECT_EQ(xs_queue_set_priority(q, kMinPriority), XS_OK);
  int32_t scope = 0;
  EXPECT_EQ(xs_thread_priority_get(&scope), XS_ERR_STATE) << "a refused push opened a scope";
  ASSERT_EQ(xs_thread_priority_push(kMaxPriority), XS_OK);
  EXPECT_EQ(xs_thread_priority_pop(), XS_OK);

  const xs_hints_t beyond{INT32_MAX, 0, 0, 1};
  EXPECT_EQ(xs_set_process_hints(XS_HINT_PRIORITY, &beyond), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_set_process_hints(XS_HINT_SHARE, &beyond), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_set_process_hints(XS_HINT_DEADLINE, &beyond), XS_ERR_INVALID_ARG);
  EXPECT_EQ(hints_of(q).priority, kMinPriority);
  const xs_hints_t edge{kMaxPriority, kMaxShare, 0, kMinDeadlineNs};
  EXPECT_EQ(xs_set_process_hints(XS_HINT_PRIORITY | XS_HINT_SHARE | XS_HINT_DEADLINE, &edge), XS_OK);
  EXPECT_EQ(hints_of(q).priority, kMaxPriority);
  EXPECT_EQ(hints_of(q).deadline_ns, kMinDeadlineNs);
  const xs_hints_t defaults{0, 1, 0, 0};  // for the tests that follow in this process
  EXPECT_EQ(xs_set_process_hints(XS_HINT_PRIORITY | XS_HINT_SHARE | XS_HINT_DEADLINE, &defaults), XS_OK);
  EXPECT_EQ(xs_queue_destroy(q), XS_OK);
}

// A timeslice or deadline of 1 ns made the timer decide again and again with
// the scheduler's lock held: the workload below never finished.
class ApiTinyTimes : public ::testing::TestWithParam<xs_policy_t> {};

TEST_P(ApiTinyTimes, AreRefusedAndTheSmallestAllowedKeepsTheSchedulerLive) {
  const xs_policy_t policy = GetParam();
  const bool bandwidth = policy == XS_POLICY_BANDWIDTH;
  Device d;
  xs_queue_t a = nullptr, b = nullptr;
  ASSERT_EQ(xs_set_policy(policy), XS_OK);
  ASSERT_EQ(xs_queue_create(XS_PLATFORM_HOST, d.streams[0], nullptr, &a), XS_OK);
  ASSERT_EQ(xs_queue_create(XS_PLATFORM_HOST, d.streams[1], nullptr, &b), XS_OK);
  {
    HangWatchdog dog(std::string("20 x 1 ms kernels on two queues under the ") + xs_policy_name(policy) +
                         " policy with the shortest times",
                     60s);
    const xs_hints_t tiny = bandwidth ? xs_hints_t{0, 1, 1, 0} : xs_hints_t{0, 1, 0, 1};
    EXPECT_EQ(xs_queue_set_hints(a, &tiny), XS_ERR_INVALID_ARG);
    const xs_hints_t least = bandwidth ? xs_hints_t{0, 1, kMinTimesliceNs, 0} : xs_hints_t{0, 1, 0, kMinDeadlineNs};
    EXPECT_EQ(xs_queue_set_hints(b, &least), XS_OK);
    const xs_host_kernel_t k{1'000'000, nullptr, nullptr};
    xs_command_t c{};
    c.kind = XS_CMD_KERNEL;
    c.u.kernel.desc = &k;
    c.u.kernel.desc_size = sizeof k;
    for (int i = 0; i < 20; ++i) {
      ASSERT_EQ(xs_queue_submit(a, &c, nullptr), XS_OK);
      ASSERT_EQ(xs_queue_submit(b, &c, nullptr), XS_OK);
    }
    // The scheduler's lock must come free for other calls meanwhile.
    xs_queue_t third = nullptr;
    EXPECT_EQ(xs_queue_create(XS_PLATFORM_HOST, d.streams[2], nullptr, &third), XS_OK);
    EXPECT_EQ(xs_queue_wait_all(a, XS_WAIT_FOREVER), XS_OK);
    EXPECT_EQ(xs_queue_wait_all(b, XS_WAIT_FOREVER), XS_OK);
    EXPECT_EQ(xs_queue_destroy(third), XS_OK);
  }
  EXPECT_EQ(xs_queue_destroy(a), XS_OK);
  EXPECT_EQ(xs_queue_destroy(b), XS_OK);
  EXPECT_EQ(xs_set_policy(XS_POLICY_PRIORITY), XS_OK);
}

INSTANTIATE_TEST_SUITE_P(TimePolicies, ApiTinyTimes, ::testing::Values(XS_POLICY_BANDWIDTH, XS_POLICY_DEADLINE),
                         [](const auto& param) { return std::string(xs_policy_name(param.param)); });

// Values that are none of an enum's members, negative ones included, are
// refused before anything reads them as the enum (under UBSan, reading them
// so stops the test).
TEST(ApiEnumArgs, ValuesThatAreNoMemberAreRefused) {
  Device d;
  xs_queue_t q = nullptr;
  for (int platform : {-1, 0, 4, INT_MIN, INT_MAX}) {  // 1..3: host, CUDA, HIP
    EXPECT_EQ(enum_args_queue_create(platform, d.streams[0], &q), XS_ERR_INVALID_ARG) << platform;
  }
  for (int level : {-1, 4, INT_MIN, INT_MAX}) {
    EXPECT_EQ(enum_args_queue_create_at_level(d.streams[0], level, &q), XS_ERR_INVALID_ARG) << level;
  }
  ASSERT_EQ(enum_args_queue_create_at_level(d.streams[0], XS_LEVEL_BLOCK, &q), XS_OK);
  for (int kind : {-1, 0, 9, INT_MIN, INT_MAX}) EXPECT_EQ(enum_args_submit(q, kind), XS_ERR_INVALID_ARG) << kind;
  EXPECT_EQ(enum_args_submit(q, XS_CMD_KERNEL), XS_OK);
  EXPECT_EQ(xs_queue_wait_all(q, XS_WAIT_FOREVER), XS_OK);
  EXPECT_EQ(xs_queue_destroy(q), XS_OK);

  xs_policy_t before = XS_POLICY_NONE;
  ASSERT_EQ(xs_get_policy(&before), XS_OK);
  int past = 0;  // the first value past the policies (they are 0, 1, ... up to the first "unknown")
  while (std::strcmp(enum_args_policy_name(past), "unknown") != 0 && past < 1000) ++past;
  EXPECT_GT(past, XS_POLICY_DEADLINE);
  for (int policy : {-1, past, INT_MIN, INT_MAX}) {
    EXPECT_EQ(enum_args_set_policy(policy), XS_ERR_INVALID_ARG) << policy;
    EXPECT_STREQ(enum_args_policy_name(policy), "unknown") << policy;
  }
  xs_policy_t after = XS_POLICY_NONE;
  ASSERT_EQ(xs_get_policy(&after), XS_OK);
  EXPECT_EQ(after, before);
  EXPECT_STREQ(enum_args_policy_name(XS_POLICY_DEADLINE), "deadline");
  for (int result : {-1, 9, INT_MIN, INT_MAX}) {
    EXPECT_STREQ(enum_args_result_string(result), "unknown result code") << result;
  }
  EXPECT_STREQ(enum_args_result_string(XS_ERR_TIMEOUT), "timed out");
}

// A struct as a program built against a newer header would pass it: this
// version's struct, then fields this version does not know.
template <class S>
struct Newer {
  S known;
  unsigned char more[40];
};

TEST(ApiStructSize, ExactOrLargerWithAZeroTailIsAcceptedSmallerOrANonzeroTailIsNot) {
  Device d;
  static_assert(offsetof(Newer<xs_queue_config_t>, more) == sizeof(xs_queue_config_t));
  static_assert(offsetof(Newer<xs_queue_info_t>, more) == sizeof(xs_queue_info_t));
  Newer<xs_queue_config_t> cfg;
  std::memset(&cfg, 0, sizeof cfg);
  xs_queue_config_init(&cfg.known);
  auto create = [&](uint32_t size) {
    cfg.known.struct_size = size;
    xs_queue_t q = nullptr;
    const xs_result_t r = xs_queue_create(XS_PLATFORM_HOST, d.streams[0], &cfg.known, &q);
    if (r == XS_OK) {
      EXPECT_EQ(xs_queue_destroy(q), XS_OK);
    }
    return r;
  };
  EXPECT_EQ(create(sizeof(xs_queue_config_t)), XS_OK);
  EXPECT_EQ(create(sizeof cfg), XS_OK);
  EXPECT_EQ(create(sizeof(xs_queue_config_t) + 1), XS_OK);
  EXPECT_EQ(create(sizeof(xs_queue_config_t) - 1), XS_ERR_INVALID_ARG);
  EXPECT_EQ(create(offsetof(xs_queue_config_t, window_ns)), XS_ERR_INVALID_ARG);
  EXPECT_EQ(create(0), XS_ERR_INVALID_ARG);
  EXPECT_EQ(create(0xFFFFFFFFu), XS_ERR_INVALID_ARG);
  cfg.more[sizeof cfg.more - 1] = 1;  // a newer field set: this version cannot honour it
  EXPECT_EQ(create(sizeof cfg), XS_ERR_INVALID_ARG);
  EXPECT_EQ(create(sizeof(xs_queue_config_t)), XS_OK) << "bytes past struct_size are not the struct's";

  xs_queue_t q = nullptr;
  ASSERT_EQ(xs_queue_create(XS_PLATFORM_HOST, d.streams[0], nullptr, &q), XS_OK);
  Newer<xs_queue_info_t> info;
  std::memset(&info, 0, sizeof info);
  xs_queue_info_init(&info.known);
  auto query = [&](uint32_t size) {
    info.known.struct_size = size;
    return xs_queue_query(q, &info.known);
  };
  EXPECT_EQ(query(sizeof(xs_queue_info_t)), XS_OK);
  EXPECT_EQ(query(sizeof info), XS_OK);
  for (unsigned char byte : info.more) ASSERT_EQ(byte, 0) << "the query wrote past the struct it knows";
  EXPECT_EQ(query(sizeof(xs_queue_info_t) - 8), XS_ERR_INVALID_ARG);
  EXPECT_EQ(query(0xFFFFFFFFu), XS_ERR_INVALID_ARG);
  info.more[0] = 0x5a;
  EXPECT_EQ(query(sizeof info), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_queue_destroy(q), XS_OK);
}

}  // namespace
