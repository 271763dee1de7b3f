// One scheduling domain per device: queues of different devices are never
// decided together. An urgent queue on one device holds nothing on another;
// bandwidth shares, reservation and the timer are per device; domains come
// and go with their queues; and the C API gives two CPU devices two domains.
#include "sched/local_scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "c_api_helpers.h"
#include "manual_hw_queue.h"
#include "xqueue_helpers.h"
#include "sched/reserve_rule.h"
#include "xsched/xsched.h"

namespace xsched {
namespace {

using namespace std::chrono_literals;
using testing::ManualHwQueue;

DeviceId device(uint8_t tag) {
  DeviceId d;
  d.uuid[0] = tag;
  return d;
}

std::shared_ptr<XQueue> make_queue(HwQueue hw, const DeviceId& dev, int32_t priority, uint32_t share = 1) {
  return testing::make_queue(hw, priority, share, dev);
}

using testing::kernel;

using testing::eventually;
using testing::suspended;

// On each of two devices an urgent (10) and a low (0) queue.
struct TwoDevices {
  explicit TwoDevices(xs_policy_t policy) : sched(policy, 2'000'000) {
    hi_a = make_queue(hw_hi_a.hw_queue(), device(1), 10);
    lo_a = make_queue(hw_lo_a.hw_queue(), device(1), 0);
    hi_b = make_queue(hw_hi_b.hw_queue(), device(2), 10);
    lo_b = make_queue(hw_lo_b.hw_queue(), device(2), 0);
    for (auto* q : {&hi_a, &lo_a, &hi_b, &lo_b}) sched.add(**q);
  }
  ~TwoDevices() {
    for (auto* hw : {&hw_hi_a, &hw_lo_a, &hw_hi_b, &hw_lo_b}) hw->complete_all();
    for (auto* q : {&hi_a, &lo_a, &hi_b, &lo_b}) sched.remove(**q);
  }
  LocalScheduler sched;
  ManualHwQueue hw_hi_a, hw_lo_a, hw_hi_b, hw_lo_b;
  std::shared_ptr<XQueue> hi_a, lo_a, hi_b, lo_b;
};

TEST(MultiDevice, AnUrgentQueueHoldsOnlyItsOwnDevicesQueues) {
  TwoDevices t(XS_POLICY_PRIORITY);
  EXPECT_EQ(t.sched.domains(), 2u);
  ASSERT_EQ(t.lo_b->submit(kernel(), nullptr), XS_OK);
  ASSERT_EQ(t.hi_a->submit(kernel(), nullptr), XS_OK);
  EXPECT_TRUE(suspended(*t.lo_a));   // same device: held before submit returned
  EXPECT_FALSE(suspended(*t.lo_b));  // another device: untouched
  EXPECT_FALSE(suspended(*t.hi_b));
  EXPECT_EQ(t.hw_lo_b.launched(), 1u);
  // The other device's own urgent queue holds its own low queue, and only that.
  ASSERT_EQ(t.hi_b->submit(kernel(), nullptr), XS_OK);
  EXPECT_TRUE(suspended(*t.lo_b));
  t.hw_hi_a.complete_all();
  ASSERT_EQ(t.hi_a->wait_all(5'000'000'000), XS_OK);
  // The urgent queue's worker reports it idle after the wait may have returned: wait for the release.
  EXPECT_TRUE(eventually([&] { return !suspended(*t.lo_a); }));  // device 1's urgent queue is idle
  EXPECT_TRUE(suspended(*t.lo_b));                                // device 2's is not
}

TEST(MultiDevice, APolicyChangeReachesEveryDevice) {
  TwoDevices t(XS_POLICY_PRIORITY);
  ASSERT_EQ(t.hi_a->submit(kernel(), nullptr), XS_OK);
  ASSERT_EQ(t.hi_b->submit(kernel(), nullptr), XS_OK);
  EXPECT_TRUE(suspended(*t.lo_a));
  EXPECT_TRUE(suspended(*t.lo_b));
  ASSERT_EQ(t.sched.set_policy(XS_POLICY_NONE), XS_OK);
  EXPECT_FALSE(suspended(*t.lo_a));
  EXPECT_FALSE(suspended(*t.lo_b));
}

TEST(MultiDevice, ReservationConfinesOnlyTheUrgentQueuesDevice) {
  TwoDevices t(XS_POLICY_PRIORITY);
  t.sched.enable_reservation(50'000'000);
  ASSERT_EQ(t.hi_a->submit(kernel(), nullptr), XS_OK);
  EXPECT_EQ(t.hw_lo_a.confined_until(), ReserveRule::kForever);
  EXPECT_EQ(t.hw_lo_b.confined_until(), 0);
  EXPECT_EQ(t.hw_hi_b.confined_until(), 0);
}

TEST(MultiDevice, BandwidthSharesArePerDevice) {
  LocalScheduler sched(XS_POLICY_BANDWIDTH, 2'000'000);
  ManualHwQueue hw_a1, hw_a2, hw_b;
  auto a1 = make_queue(hw_a1.hw_queue(), device(1), 0, 3);
  auto a2 = make_queue(hw_a2.hw_queue(), device(1), 0, 1);
  auto b = make_queue(hw_b.hw_queue(), device(2), 0, 1);
  for (auto* q : {&a1, &a2, &b}) sched.add(**q);
  for (auto* q : {&a1, &a2, &b}) ASSERT_EQ((*q)->submit(kernel(), nullptr), XS_OK);
  // Device 1's two queues take turns; device 2's only queue is never held for them.
  bool a_turns = false;
  for (int i = 0; i < 200; ++i) {
    a_turns = a_turns || suspended(*a1) || suspended(*a2);
    EXPECT_FALSE(suspended(*b));
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(a_turns);
  for (auto* hw : {&hw_a1, &hw_a2, &hw_b}) hw->complete_all();
  for (auto* q : {&a1, &a2, &b}) sched.remove(**q);
}

TEST(MultiDevice, DomainsComeAndGoWithTheirQueues) {
  LocalScheduler sched(XS_POLICY_PRIORITY, 2'000'000);
  ManualHwQueue hw1, hw2, hw3;
  auto q1 = make_queue(hw1.hw_queue(), device(1), 0);
  auto q2 = make_queue(hw2.hw_queue(), device(2), 0);
  auto q3 = make_queue(hw3.hw_queue(), device(2), 5);
  EXPECT_EQ(sched.domains(), 0u);
  sched.add(*q1);
  sched.add(*q2);
  sched.add(*q3);
  EXPECT_EQ(sched.domains(), 2u);
  sched.remove(*q2);
  EXPECT_EQ(sched.domains(), 2u);
  sched.remove(*q3);
  EXPECT_EQ(sched.domains(), 1u);
  // A queue of a device whose domain went starts a fresh one, with the process's policy.
  sched.add(*q3);
  sched.add(*q2);
  ASSERT_EQ(q3->submit(kernel(), nullptr), XS_OK);
  EXPECT_TRUE(suspended(*q2));
  EXPECT_FALSE(suspended(*q1));
  hw3.complete_all();
  for (auto* q : {&q1, &q2, &q3}) sched.remove(**q);
  EXPECT_EQ(sched.domains(), 0u);
}

// Two CPU devices of one unit each, through the C API, and queues on them
// (a stream each); queues, streams and devices are destroyed at the end.
class CApiDevices {
 public:
  CApiDevices() {
    for (xs_host_device_t& d : dev) EXPECT_EQ(xs_host_device_create(1, &d), XS_OK);
  }
  ~CApiDevices() {
    for (xs_queue_t q : queues_) EXPECT_EQ(xs_queue_destroy(q), XS_OK);
    for (xs_host_stream_t s : streams_) EXPECT_EQ(xs_host_stream_destroy(s), XS_OK);
    for (xs_host_device_t d : dev) EXPECT_EQ(xs_host_device_destroy(d), XS_OK);
  }
  CApiDevices(const CApiDevices&) = delete;
  CApiDevices& operator=(const CApiDevices&) = delete;

  // A queue on device `which` (0: A, 1: B) at `priority`.
  xs_queue_t queue(int which, int32_t priority) {
    xs_host_stream_t s = nullptr;
    xs_queue_t q = nullptr;
    EXPECT_EQ(xs_host_stream_create(dev[which], &s), XS_OK);
    EXPECT_EQ(xs_queue_create(XS_PLATFORM_HOST, s, nullptr, &q), XS_OK);
    EXPECT_EQ(xs_queue_set_priority(q, priority), XS_OK);
    streams_.push_back(s);
    queues_.push_back(q);
    return q;
  }

  xs_host_device_t dev[2] = {};

 private:
  std::vector<xs_host_stream_t> streams_;
  std::vector<xs_queue_t> queues_;
};

xs_queue_info_t info_of(xs_queue_t q) {
  xs_queue_info_t info;
  xs_queue_info_init(&info);
  EXPECT_EQ(xs_queue_query(q, &info), XS_OK);
  return info;
}

// Through the C API: two CPU devices are two domains.
TEST(MultiDevice, TwoCpuDevicesThroughTheCApi) {
  CApiDevices c;
  const xs_queue_t hi = c.queue(0, 10), lo_a = c.queue(0, 0), lo_b = c.queue(1, 0);
  const xs_host_kernel_t k{300'000'000, nullptr, nullptr};  // 300 ms: the hold is seen while it runs
  const xs_command_t cmd = testing::host_kernel(&k);
  ASSERT_EQ(xs_queue_submit(hi, &cmd, nullptr), XS_OK);
  EXPECT_NE(info_of(lo_a).suspended, 0u);
  EXPECT_EQ(info_of(lo_b).suspended, 0u);
  uint8_t uuid_a[16], uuid_b[16];
  int32_t ordinal_a = -2, ordinal_b = -2;
  ASSERT_EQ(xs_queue_device(lo_a, uuid_a, &ordinal_a), XS_OK);
  ASSERT_EQ(xs_queue_device(lo_b, uuid_b, &ordinal_b), XS_OK);
  EXPECT_EQ(ordinal_b, ordinal_a + 1);  // numbered in the order the process made them
  EXPECT_NE(std::memcmp(uuid_a, uuid_b, 16), 0);
  EXPECT_EQ(std::memcmp(uuid_a, "xsched-host-", 12), 0);
  EXPECT_EQ(xs_queue_device(hi, nullptr, nullptr), XS_OK);
}

// A queue on device B waits on an event that a low queue on device A records
// while an urgent queue on A holds it: the waiter lends its urgency to the
// recorder through the record (priority inheritance across devices), so it
// does not wait for A's urgent work to end.
TEST(MultiDevice, AWaitAcrossDevicesLendsUrgencyToTheRecorder) {
  CApiDevices c;
  const xs_queue_t urgent = c.queue(0, 10), recorder = c.queue(0, 0), waiter = c.queue(1, 10);
  xs_host_event_t ev = nullptr;
  ASSERT_EQ(xs_host_event_create(c.dev[0], &ev), XS_OK);

  constexpr uint64_t kUrgentKernels = 40;
  const xs_host_kernel_t long_kernel{25'000'000, nullptr, nullptr};  // 40 x 25 ms = 1 s of urgent work
  const xs_host_kernel_t short_kernel{2'000'000, nullptr, nullptr};
  const xs_command_t k_long = testing::host_kernel(&long_kernel);
  const xs_command_t k_short = testing::host_kernel(&short_kernel);
  for (uint64_t i = 0; i < kUrgentKernels; ++i) ASSERT_EQ(xs_queue_submit(urgent, &k_long, nullptr), XS_OK);
  xs_command_t rec{};
  rec.kind = XS_CMD_EVENT_RECORD;
  rec.u.event.event = ev;
  ASSERT_EQ(xs_queue_submit(recorder, &k_short, nullptr), XS_OK);
  ASSERT_EQ(xs_queue_submit(recorder, &rec, nullptr), XS_OK);
  EXPECT_NE(info_of(recorder).suspended, 0u);  // the urgent queue of its device holds it

  xs_command_t wait = rec;
  wait.kind = XS_CMD_EVENT_WAIT;
  ASSERT_EQ(xs_queue_submit(waiter, &wait, nullptr), XS_OK);
  uint64_t last = 0;
  ASSERT_EQ(xs_queue_submit(waiter, &k_short, &last), XS_OK);
  ASSERT_EQ(xs_queue_wait(waiter, last, -1), XS_OK);
  EXPECT_LT(info_of(urgent).completed, kUrgentKernels);  // without the loan it would wait for all of them
  EXPECT_EQ(xs_host_event_query(ev), XS_OK);
  EXPECT_EQ(xs_host_event_destroy(ev), XS_OK);
}

// The ranks of a collective: one queue per device, each kernel spinning until
// its peer's has started. Ranked against each other (one domain for both
// devices), the urgent rank would hold the other and spin forever; in two
// domains they never are. An urgent queue on device A delays A's rank, and
// B's rank spins until then, but both finish.
struct Rendezvous {
  std::atomic<int> arrived{0};
  std::atomic<bool> gave_up{false};
};

void rank_kernel(void* arg) {
  auto* r = static_cast<Rendezvous*>(arg);
  r->arrived.fetch_add(1);
  const auto give_up = std::chrono::steady_clock::now() + 10s;  // a deadlock fails the test, not CI
  while (r->arrived.load() < 2) {
    if (std::chrono::steady_clock::now() > give_up) {
      r->gave_up = true;
      return;
    }
    std::this_thread::yield();
  }
}

TEST(MultiDevice, RanksOfACollectiveOnTwoDevicesAreNeverHeldAgainstEachOther) {
  CApiDevices c;
  const xs_queue_t urgent = c.queue(0, 20), rank_a = c.queue(0, 10), rank_b = c.queue(1, 0);  // B: the lower rank
  const xs_host_kernel_t urgent_work{100'000'000, nullptr, nullptr};
  const xs_command_t k_urgent = testing::host_kernel(&urgent_work);
  ASSERT_EQ(xs_queue_submit(urgent, &k_urgent, nullptr), XS_OK);
  Rendezvous r;
  const xs_host_kernel_t rank{1'000'000, rank_kernel, &r};
  const xs_command_t k_rank = testing::host_kernel(&rank);
  uint64_t id_a = 0, id_b = 0;
  ASSERT_EQ(xs_queue_submit(rank_b, &k_rank, &id_b), XS_OK);
  ASSERT_EQ(xs_queue_submit(rank_a, &k_rank, &id_a), XS_OK);
  EXPECT_NE(info_of(rank_a).suspended, 0u);  // the urgent queue of its device holds it for now
  EXPECT_EQ(info_of(rank_b).suspended, 0u);  // the higher rank on the other device does not
  ASSERT_EQ(xs_queue_wait(rank_a, id_a, -1), XS_OK);
  ASSERT_EQ(xs_queue_wait(rank_b, id_b, -1), XS_OK);
  EXPECT_FALSE(r.gave_up.load());
  EXPECT_EQ(r.arrived.load(), 2);
}

}  // namespace
}  // namespace xsched
