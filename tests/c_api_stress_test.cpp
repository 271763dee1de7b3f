// The C API from 16 threads at once, with random calls and random hints
// (valid ones, the ends of each range, and values just past them): queues
// made and destroyed, work submitted to the CPU reference device, hints and
// policies changed, waits, suspensions and priority scopes. It asserts that
// every call returns the code its documentation gives for its arguments,
// that nothing hangs (a watchdog ends the run), and that every command
// accepted ran exactly once.
//
// XSCHED_STRESS_SEED=N repeats a run's random choices (the interleaving of
// the threads differs); XSCHED_STRESS_MS=N changes how long it runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "hang_watchdog.h"
#include "xsched/xsched.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kThreads = 16;
constexpr int kLanesPerThread = 2;
constexpr uint64_t kMaxOutstanding = 48;  // commands a lane lets pile up before it waits
constexpr std::chrono::milliseconds kWatchdog{60'000};

// The documented ranges (xsched.h, xs_hints_t).
constexpr int64_t kMinPriority = -1'000'000;
constexpr int64_t kMaxPriority = 1'000'000;
constexpr uint32_t kMaxShare = 1'000'000;
constexpr int64_t kMinTimeNs = 100'000;
constexpr int64_t kMaxTimesliceNs = 10'000'000'000;
constexpr int64_t kMaxDeadlineNs = 3'600'000'000'000;

bool valid_priority(int64_t p) { return p >= kMinPriority && p <= kMaxPriority; }
bool valid_share(uint32_t s) { return s >= 1 && s <= kMaxShare; }
bool valid_time(int64_t ns, int64_t max) { return ns == 0 || (ns >= kMinTimeNs && ns <= max); }
bool valid_hints(const xs_hints_t& h) {
  return valid_priority(h.priority) && valid_share(h.share) && valid_time(h.timeslice_ns, kMaxTimesliceNs) &&
         valid_time(h.deadline_ns, kMaxDeadlineNs);
}

// The first value past the policies, which are 0, 1, ... up to the first
// that xs_policy_name calls "unknown".
int past_policies() {
  static const int past = [] {
    int p = 0;
    while (std::string(xs_policy_name(static_cast<xs_policy_t>(p))) != "unknown" && p < 1000) ++p;
    return p;
  }();
  return past;
}

uint64_t env_or(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

const uint64_t g_seed = env_or("XSCHED_STRESS_SEED", 20250101);
std::atomic<int> g_reported{0};

// One failure, with what repeats the run; at most a few are printed.
void report(const std::string& what) {
  if (g_reported.fetch_add(1) < 20) ADD_FAILURE() << what << " (XSCHED_STRESS_SEED=" << g_seed << ")";
}

void expect_code(xs_result_t got, std::initializer_list<xs_result_t> documented, const char* call) {
  if (std::find(documented.begin(), documented.end(), got) != documented.end()) return;
  report(std::string(call) + " returned " + std::to_string(got) + " (" + xs_result_string(got) + ")");
}

void count_run(void* arg) { static_cast<std::atomic<uint64_t>*>(arg)->fetch_add(1, std::memory_order_relaxed); }

// A queue slot of one thread: the queue (when made), its stream, and how
// many commands were accepted for it and how many ran, over every queue the
// slot has had.
struct Lane {
  xs_host_stream_t stream = nullptr;
  xs_queue_t q = nullptr;
  bool suspended = false;  // by this thread (the user's hold)
  uint64_t last_id = 0;
  uint64_t accepted = 0;
  std::atomic<uint64_t> ran{0};
  std::vector<xs_queue_t> destroyed;  // stale handles, to be refused
};

class Worker {
 public:
  Worker(int index, xs_host_device_t dev) : rng_(g_seed * 1'000'003 + static_cast<uint64_t>(index)) {
    for (Lane& l : lanes_) expect_code(xs_host_stream_create(dev, &l.stream), {XS_OK}, "xs_host_stream_create");
  }

  void run(Clock::time_point until) {
    while (Clock::now() < until) step();
    finish();
  }

  // After run(): every lane's accepted commands ran, each once.
  void check_counts(int index) const {
    for (const Lane& l : lanes_) {
      if (l.ran.load() != l.accepted) {
        report("thread " + std::to_string(index) + ": " + std::to_string(l.accepted) + " commands accepted, " +
               std::to_string(l.ran.load()) + " ran");
      }
    }
  }

  uint64_t calls() const { return calls_; }
  uint64_t commands() const {
    uint64_t n = 0;
    for (const Lane& l : lanes_) n += l.accepted;
    return n;
  }

  void destroy_streams() {
    for (Lane& l : lanes_) expect_code(xs_host_stream_destroy(l.stream), {XS_OK}, "xs_host_stream_destroy");
  }

 private:
  uint64_t pick(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }
  template <class T>
  T one_of(std::initializer_list<T> values) {
    return values.begin()[pick(values.size())];
  }

  int64_t random_priority() {
    return one_of<int64_t>({0, 1, -1, static_cast<int64_t>(pick(2001)) - 1000, kMinPriority, kMaxPriority,
                            kMinPriority - 1, kMaxPriority + 1, INT32_MIN, INT32_MAX});
  }
  uint32_t random_share() { return one_of<uint32_t>({0, 1, 2, 1 + static_cast<uint32_t>(pick(100)), kMaxShare, kMaxShare + 1, UINT32_MAX}); }
  int64_t random_time(int64_t max) {
    return one_of<int64_t>({0, 0, 1, kMinTimeNs - 1, kMinTimeNs, kMinTimeNs + static_cast<int64_t>(pick(5'000'000)),
                            max, max + 1, -1, INT64_MAX});
  }
  xs_hints_t random_hints() {
    return xs_hints_t{static_cast<int32_t>(random_priority()), random_share(), random_time(kMaxTimesliceNs),
                      random_time(kMaxDeadlineNs)};
  }

  void step() {
    ++calls_;
    Lane& l = lanes_[pick(kLanesPerThread)];
    if (l.q == nullptr) return create(l);
    const uint64_t op = pick(100);
    if (op < 40) return submit(l);
    if (op < 50) return set_hints(l);
    if (op < 55) return set_priority_or_share(l);
    if (op < 62) return wait(l);
    if (op < 70) return suspend_or_resume(l);
    if (op < 75) return query(l);
    if (op < 78) return destroy(l);
    if (op < 80) return set_policy();
    if (op < 82) return set_process_hints();
    if (op < 86) return priority_scope(l);
    if (op < 88) return stale_handle(l);
    return submit(l);
  }

  void create(Lane& l) {
    xs_queue_config_t cfg;
    xs_queue_config_init(&cfg);
    cfg.level = one_of<xs_level_t>({XS_LEVEL_AUTO, XS_LEVEL_BLOCK, XS_LEVEL_DEACTIVATE, XS_LEVEL_INTERRUPT});
    cfg.window = one_of<uint32_t>({0, 1, 4, 65536, 65537});
    const bool defaults = pick(4) == 0;
    const bool valid = defaults || cfg.window <= 65536;
    const xs_result_t r = xs_queue_create(XS_PLATFORM_HOST, l.stream, defaults ? nullptr : &cfg, &l.q);
    if (r != XS_OK) l.q = nullptr;
    expect_code(r, {valid ? XS_OK : XS_ERR_INVALID_ARG}, "xs_queue_create");
    l.suspended = false;
    l.last_id = 0;
  }

  void destroy(Lane& l) {
    expect_code(xs_queue_destroy(l.q), {XS_OK}, "xs_queue_destroy");
    // Destroying completes every command the queue accepted.
    if (l.ran.load() != l.accepted) report("xs_queue_destroy returned before the queue's commands ran");
    l.destroyed.push_back(l.q);
    l.q = nullptr;
  }

  void submit(Lane& l) {
    if (l.accepted - l.ran.load() >= kMaxOutstanding) return wait(l);
    xs_command_t c{};
    xs_host_kernel_t k{pick(150'000), count_run, &l.ran};
    bool valid = true;
    switch (pick(10)) {
      case 0:
        c.kind = XS_CMD_HOST_FUNC;
        c.u.host_func = {count_run, &l.ran};
        break;
      case 1:  // no descriptor
        c.kind = XS_CMD_KERNEL;
        valid = false;
        break;
      case 2:
        c.kind = XS_CMD_KERNEL;
        c.u.kernel = {&k, sizeof k};
        c.est_ns = -1;
        valid = false;
        break;
      default:
        c.kind = XS_CMD_KERNEL;
        c.u.kernel = {&k, sizeof k};
        c.est_ns = static_cast<int64_t>(pick(200'000));
        break;
    }
    uint64_t id = 0;
    const xs_result_t r = xs_queue_submit(l.q, &c, &id);
    expect_code(r, {valid ? XS_OK : XS_ERR_INVALID_ARG}, "xs_queue_submit");
    if (r != XS_OK) return;
    ++l.accepted;
    if (id <= l.last_id) report("xs_queue_submit gave an id that is not new");
    l.last_id = id;
  }

  void set_hints(Lane& l) {
    const xs_hints_t h = random_hints();
    expect_code(xs_queue_set_hints(l.q, &h), {valid_hints(h) ? XS_OK : XS_ERR_INVALID_ARG}, "xs_queue_set_hints");
  }

  void set_priority_or_share(Lane& l) {
    if (pick(2) == 0) {
      const int64_t p = random_priority();
      expect_code(xs_queue_set_priority(l.q, static_cast<int32_t>(p)), {valid_priority(p) ? XS_OK : XS_ERR_INVALID_ARG},
                  "xs_queue_set_priority");
    } else {
      const uint32_t s = random_share();
      expect_code(xs_queue_set_share(l.q, s), {valid_share(s) ? XS_OK : XS_ERR_INVALID_ARG}, "xs_queue_set_share");
    }
  }

  // Waits without a limit only while this thread holds none of its queues:
  // the queue it waits for may be held behind one of them.
  bool may_wait_forever() const {
    return std::none_of(std::begin(lanes_), std::end(lanes_), [](const Lane& x) { return x.suspended; });
  }

  void wait(Lane& l) {
    const int64_t timeout = may_wait_forever() && pick(3) == 0 ? XS_WAIT_FOREVER
                                                               : one_of<int64_t>({0, 100'000, 2'000'000});
    // Without a limit, only XS_OK; with one, XS_ERR_TIMEOUT too.
    const xs_result_t timed_out = timeout < 0 ? XS_OK : XS_ERR_TIMEOUT;
    if (l.last_id == 0 || pick(2) == 0) {
      expect_code(xs_queue_wait_all(l.q, timeout), {XS_OK, timed_out}, "xs_queue_wait_all");
    } else {
      expect_code(xs_queue_wait(l.q, l.last_id, timeout), {XS_OK, timed_out}, "xs_queue_wait");
      expect_code(xs_queue_wait(l.q, l.last_id + 1, 0), {XS_ERR_INVALID_ARG}, "xs_queue_wait (an id not given yet)");
    }
  }

  void suspend_or_resume(Lane& l) {
    if (l.suspended) {
      expect_code(xs_queue_resume(l.q), {XS_OK}, "xs_queue_resume");
      l.suspended = false;
      return;
    }
    const uint32_t flags = one_of<uint32_t>({0, XS_SUSPEND_SYNC, 0x80});
    const xs_result_t r = xs_queue_suspend(l.q, flags);
    expect_code(r, {flags == 0x80 ? XS_ERR_INVALID_ARG : XS_OK}, "xs_queue_suspend");
    l.suspended = r == XS_OK;
  }

  void query(Lane& l) {
    xs_queue_info_t info;
    xs_queue_info_init(&info);
    expect_code(xs_queue_query(l.q, &info), {XS_OK}, "xs_queue_query");
    if (info.completed > info.submitted || info.submitted < l.last_id) report("xs_queue_query: counts out of order");
    if (l.suspended && info.suspended == 0) report("xs_queue_query: a queue the user holds is not suspended");
    if (info.error != XS_OK) report("a queue has a sticky error");
    if (!valid_hints(info.hints)) report("a queue's hints are out of range");
  }

  void set_policy() {
    const int p = one_of<int>({XS_POLICY_NONE, XS_POLICY_PRIORITY, XS_POLICY_BANDWIDTH, XS_POLICY_DEADLINE,
                               XS_POLICY_PRIORITY, XS_POLICY_BANDWIDTH, XS_POLICY_DEADLINE, XS_POLICY_LAXITY,
                               past_policies(), 77});
    // Values past the members stay within the enum's range here (C++).
    expect_code(xs_set_policy(static_cast<xs_policy_t>(p)), {p < past_policies() ? XS_OK : XS_ERR_INVALID_ARG},
                "xs_set_policy");
  }

  void set_process_hints() {
    const uint32_t fields = static_cast<uint32_t>(pick(9));  // 0 and 8 are not fields
    const xs_hints_t h = random_hints();
    const bool valid = fields != 0 && fields <= 7 && ((fields & XS_HINT_PRIORITY) == 0 || valid_priority(h.priority)) &&
                       ((fields & XS_HINT_SHARE) == 0 || valid_share(h.share)) &&
                       ((fields & XS_HINT_DEADLINE) == 0 || valid_time(h.deadline_ns, kMaxDeadlineNs));
    expect_code(xs_set_process_hints(fields, &h), {valid ? XS_OK : XS_ERR_INVALID_ARG}, "xs_set_process_hints");
  }

  void priority_scope(Lane& l) {
    const int64_t p = random_priority();
    const xs_result_t r = xs_thread_priority_push(static_cast<int32_t>(p));
    expect_code(r, {valid_priority(p) ? XS_OK : XS_ERR_INVALID_ARG}, "xs_thread_priority_push");
    submit(l);
    if (r == XS_OK) expect_code(xs_thread_priority_pop(), {XS_OK}, "xs_thread_priority_pop");
  }

  void stale_handle(Lane& l) {
    if (l.destroyed.empty()) return;
    const xs_queue_t stale = l.destroyed[pick(l.destroyed.size())];
    expect_code(xs_queue_wait_all(stale, 0), {XS_ERR_INVALID_HANDLE}, "xs_queue_wait_all (destroyed)");
    const xs_hints_t h{0, 1, 0, 0};
    expect_code(xs_queue_set_hints(stale, &h), {XS_ERR_INVALID_HANDLE}, "xs_queue_set_hints (destroyed)");
  }

  // Releases this thread's holds, waits for its queues and destroys them.
  void finish() {
    for (Lane& l : lanes_) {
      if (l.q == nullptr) continue;
      if (l.suspended) expect_code(xs_queue_resume(l.q), {XS_OK}, "xs_queue_resume");
      l.suspended = false;
    }
    for (Lane& l : lanes_) {
      if (l.q == nullptr) continue;
      expect_code(xs_queue_wait_all(l.q, XS_WAIT_FOREVER), {XS_OK}, "xs_queue_wait_all");
      destroy(l);
    }
  }

  std::mt19937_64 rng_;
  Lane lanes_[kLanesPerThread];
  uint64_t calls_ = 0;
};

TEST(ApiStress, SixteenThreadsWithRandomHintsPoliciesAndQueues) {
  const auto run_for = std::chrono::milliseconds(env_or("XSCHED_STRESS_MS", 3000));
  std::printf("XSCHED_STRESS_SEED=%llu, %lld ms\n", static_cast<unsigned long long>(g_seed),
              static_cast<long long>(run_for.count()));
  xsched::testing::HangWatchdog dog("the stress run with XSCHED_STRESS_SEED=" + std::to_string(g_seed), kWatchdog);
  xs_host_device_t dev = nullptr;
  ASSERT_EQ(xs_host_device_create(2, &dev), XS_OK);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < kThreads; ++i) workers.push_back(std::make_unique<Worker>(i, dev));
  const Clock::time_point until = Clock::now() + run_for;
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w, until] { w->run(until); });
  for (std::thread& t : threads) t.join();
  uint64_t calls = 0, commands = 0;
  for (int i = 0; i < kThreads; ++i) {
    workers[i]->check_counts(i);
    calls += workers[i]->calls();
    commands += workers[i]->commands();
  }
  std::printf("%llu steps, %llu commands run\n", static_cast<unsigned long long>(calls),
              static_cast<unsigned long long>(commands));
  for (auto& w : workers) w->destroy_streams();
  EXPECT_EQ(xs_host_device_destroy(dev), XS_OK);
  EXPECT_EQ(xs_set_policy(XS_POLICY_PRIORITY), XS_OK);
  const xs_hints_t defaults{0, 1, 0, 0};
  EXPECT_EQ(xs_set_process_hints(XS_HINT_PRIORITY | XS_HINT_SHARE | XS_HINT_DEADLINE, &defaults), XS_OK);
}

}  // namespace
