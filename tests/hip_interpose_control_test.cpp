// The HIP interposer's control API (include/xsched/xsched_hip.h), in front
// of the fake HIP runtime: finding the XQueue of a stream from any thread and
// device, null streams, hints, suspend/resume, waiting and a failed command's
// HIP error, listing, the policy, process-wide hints and priority scopes, and
// that the interposer exports only what it should. Each check reads what the
// fake ran (its launch counter, what kernels wrote) or what the queue reports.
//
// The program is linked with libxsched_hip.so ahead of libfake_hip.so, so its
// hip* calls go through the interposer, which forwards to the fake
// (XSCHED_REAL_LIBHIP). Run with XSCHED_LEVEL=1, XSCHED_SCHEDULER=local and
// FAKE_HIP_DEVICES=2 (ctest sets them); the default policy (priority) is assumed.
#include "xsched/xsched_hip.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <hip/hip_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "fake_hip_kernel.h"

extern "C" unsigned long long fake_hip_launches(void);

namespace {

using namespace std::chrono_literals;

// A kernel that waits until the test opens its gate (10 s at most, so that a
// failed test never hangs the fake's stream worker).
void gate_fn(const void* args, size_t bytes) {
  std::atomic<int>* flag = nullptr;
  if (bytes < sizeof flag) return;
  std::memcpy(&flag, args, sizeof flag);
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (flag->load(std::memory_order_acquire) == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(100us);
  }
}

template <class Args>
hipError_t launch(hipStream_t s, hipFunction_t f, const Args& args, unsigned grid = 1) {
  size_t bytes = sizeof args;
  void* extra[] = {HIP_LAUNCH_PARAM_BUFFER_POINTER, const_cast<Args*>(&args), HIP_LAUNCH_PARAM_BUFFER_SIZE, &bytes,
                   HIP_LAUNCH_PARAM_END};
  return hipModuleLaunchKernel(f, grid, 1, 1, 1, 1, 1, 0, s, nullptr, extra);
}

hipError_t work(hipStream_t s, unsigned us = 10) { return launch(s, fake_hip_kernel_sleep(), us); }

hipError_t gate(hipStream_t s, std::atomic<int>& flag) {
  static const FakeHipKernel k{&gate_fn, "gate"};
  std::atomic<int>* p = &flag;
  return launch(s, fake_hip_function(&k), p);
}

bool eventually(const std::function<bool()>& pred) {
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

class HipControl : public ::testing::Test {
 protected:
  void TearDown() override {
    for (hipStream_t s : made_) {
      EXPECT_EQ(hipStreamSynchronize(s), hipSuccess);
      EXPECT_EQ(hipStreamDestroy(s), hipSuccess);
    }
    EXPECT_EQ(hipSetDevice(0), hipSuccess);
  }
  hipStream_t stream(unsigned flags = hipStreamDefault, int priority = 0) {
    hipStream_t s = nullptr;
    EXPECT_EQ(hipStreamCreateWithPriority(&s, flags, priority), hipSuccess);
    made_.push_back(s);
    return s;
  }
  void destroyed(hipStream_t s) { std::erase(made_, s); }

 private:
  std::vector<hipStream_t> made_;
};

// The queue of stream s (device: for null streams), failing the test if there is none.
uint64_t queue_of(hipStream_t s, int32_t device = -1) {
  uint64_t q = 0;
  EXPECT_EQ(xs_hip_stream_queue(s, device, &q), XS_OK) << xs_hip_last_error();
  EXPECT_NE(q, 0u);
  return q;
}

xs_queue_info_t info_of(uint64_t q) {
  xs_queue_info_t i{};
  i.struct_size = sizeof i;
  EXPECT_EQ(xs_hip_queue_query(q, &i), XS_OK) << xs_hip_last_error();
  return i;
}

xs_hip_queue_desc_t desc_of(uint64_t q) {
  xs_hip_queue_desc_t d{};
  d.struct_size = sizeof d;
  EXPECT_EQ(xs_hip_queue_describe(q, &d), XS_OK) << xs_hip_last_error();
  return d;
}

std::vector<uint64_t> listed() {
  size_t n = 0;
  EXPECT_EQ(xs_hip_list_queues(nullptr, 0, &n), XS_OK);
  std::vector<uint64_t> ids(n + 16);
  EXPECT_EQ(xs_hip_list_queues(ids.data(), ids.size(), &n), XS_OK);
  ids.resize(std::min(n, ids.size()));
  return ids;
}

bool is_listed(uint64_t q) {
  const auto ids = listed();
  return std::find(ids.begin(), ids.end(), q) != ids.end();
}

bool last_error_says(const char* words) { return std::string(xs_hip_last_error()).find(words) != std::string::npos; }

TEST_F(HipControl, FoundInTheLoadedInterposerBesideTheMarker) {
  void* self = dlopen("libxsched_hip.so", RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(self, nullptr);
  EXPECT_NE(dlsym(self, "xsched_hip_interposer_abi"), nullptr);
  auto abi = reinterpret_cast<uint32_t (*)()>(dlsym(self, "xs_hip_control_abi"));
  ASSERT_NE(abi, nullptr) << "the control API is not exported";
  EXPECT_EQ(abi(), static_cast<uint32_t>(XS_HIP_CONTROL_ABI));
  for (const char* name : {"xs_hip_stream_queue", "xs_hip_queue_describe", "xs_hip_queue_query",
                           "xs_hip_thread_priority_push", "xs_hip_set_policy", "xs_hip_policy_name",
                           "xs_hip_last_error", "hipModuleLaunchKernel"}) {
    EXPECT_NE(dlsym(self, name), nullptr) << name;
  }
  // The core's C calls stay inside: preloaded, they would stand in for libxsched.so's.
  EXPECT_EQ(dlsym(self, "xs_result_string"), nullptr) << "the interposer exports libxsched.so's calls";
  dlclose(self);
}

// A stream the interposer has not scheduled yet gets its queue at the
// question, the same one its launches then use.
TEST_F(HipControl, QueueOfAStreamNotUsedYet) {
  hipStream_t s = stream(hipStreamNonBlocking, -1);
  const uint64_t q = queue_of(s);
  EXPECT_EQ(queue_of(s), q);
  const xs_hip_queue_desc_t d = desc_of(q);
  EXPECT_EQ(d.kind, XS_HIP_STREAM_EXPLICIT);
  EXPECT_EQ(d.queue, q);
  EXPECT_EQ(d.stream, static_cast<void*>(s));
  EXPECT_EQ(d.device, 0);
  EXPECT_EQ(d.hip_priority, -1);
  EXPECT_EQ(d.blocking, 0);
  uint8_t uuid[16] = {};
  int32_t ordinal = -2;
  ASSERT_EQ(xs_hip_queue_device(q, uuid, &ordinal), XS_OK) << xs_hip_last_error();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(uuid), 16), "fakehip-dev-0000");
  EXPECT_EQ(ordinal, 0);
  xs_queue_info_t i = info_of(q);
  EXPECT_EQ(i.hints.priority, 1) << "HIP priority -1 is xsched priority +1";
  EXPECT_EQ(i.submitted, 0u);
  ASSERT_EQ(work(s), hipSuccess);
  ASSERT_EQ(xs_hip_queue_wait_all(q, -1), XS_OK) << xs_hip_last_error();
  i = info_of(q);
  EXPECT_EQ(i.submitted, 1u) << "the stream's launch went to another queue";
  EXPECT_EQ(i.completed, 1u);
  EXPECT_TRUE(is_listed(q));
}

// The field report's case: a stream made on device 1 by one thread, wrapped
// by a thread whose current device is 0.
TEST_F(HipControl, QueueFromAThreadOnAnotherDevice) {
  ASSERT_EQ(hipSetDevice(1), hipSuccess);
  hipStream_t s = stream();
  ASSERT_EQ(hipSetDevice(0), hipSuccess);
  uint64_t from_thread = 0;
  std::thread t([&] {
    EXPECT_EQ(xs_hip_stream_queue(s, -1, &from_thread), XS_OK) << xs_hip_last_error();
    EXPECT_EQ(xs_hip_queue_set_priority(from_thread, 3), XS_OK);
  });
  t.join();
  ASSERT_NE(from_thread, 0u);
  EXPECT_EQ(desc_of(from_thread).device, 1) << "the queue took the thread's device, not the stream's";
  EXPECT_EQ(desc_of(from_thread).blocking, 1);
  uint8_t uuid[16] = {};
  ASSERT_EQ(xs_hip_queue_device(from_thread, uuid, nullptr), XS_OK);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(uuid), 16), "fakehip-dev-0001");
  ASSERT_EQ(work(s), hipSuccess);
  ASSERT_EQ(hipStreamSynchronize(s), hipSuccess);
  const xs_queue_info_t i = info_of(from_thread);
  EXPECT_EQ(i.submitted, 1u);
  EXPECT_EQ(i.hints.priority, 3);
}

TEST_F(HipControl, NullStreams) {
  const uint64_t null0 = queue_of(nullptr);
  EXPECT_EQ(queue_of(nullptr, 0), null0) << "device 0 is current here";
  const xs_hip_queue_desc_t d = desc_of(null0);
  EXPECT_EQ(d.kind, XS_HIP_STREAM_NULL);
  EXPECT_EQ(d.stream, nullptr);
  EXPECT_EQ(d.device, 0);
  EXPECT_EQ(d.blocking, 1);
  const uint64_t before = info_of(null0).submitted;
  ASSERT_EQ(work(nullptr), hipSuccess);
  ASSERT_EQ(hipStreamSynchronize(nullptr), hipSuccess);
  EXPECT_EQ(info_of(null0).submitted, before + 1);

  std::thread t([&] {
    EXPECT_EQ(hipSetDevice(1), hipSuccess);
    uint64_t q = 0;
    EXPECT_EQ(xs_hip_stream_queue(nullptr, -1, &q), XS_OK) << xs_hip_last_error();
    EXPECT_NE(q, null0) << "each device has its null stream";
    if (q != 0) {
      EXPECT_EQ(desc_of(q).device, 1);
    }
    EXPECT_EQ(queue_of(nullptr, 1), q);
    EXPECT_EQ(queue_of(nullptr, 0), null0) << "a thread on another device names the device";
  });
  t.join();
  uint64_t q = 0;
  EXPECT_EQ(xs_hip_stream_queue(nullptr, 7, &q), XS_ERR_INVALID_ARG);
  EXPECT_TRUE(last_error_says("device 7")) << xs_hip_last_error();
  EXPECT_EQ(xs_hip_stream_queue(hipStreamPerThread, -1, &q), XS_ERR_UNSUPPORTED);
  EXPECT_TRUE(last_error_says("per-thread")) << xs_hip_last_error();
}

// The null stream is the current device's: a held command of device 1's
// null stream, launched later by a thread whose device is 0 (the resuming
// thread, or the queue's worker), must still reach device 1's null stream.
TEST_F(HipControl, HeldWorkOfANullStreamReachesItsOwnDevice) {
  using StreamQuery = hipError_t (*)(hipStream_t);
  void* fake = dlopen(std::getenv("XSCHED_REAL_LIBHIP"), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(fake, nullptr);
  const auto runtime_query = reinterpret_cast<StreamQuery>(dlsym(fake, "hipStreamQuery"));  // not the interposer's
  ASSERT_NE(runtime_query, nullptr);
  uint64_t null1 = 0;
  std::atomic<int> open{0};
  std::thread t([&] {
    EXPECT_EQ(hipSetDevice(1), hipSuccess);
    null1 = queue_of(nullptr);
    EXPECT_EQ(xs_hip_queue_suspend(null1, XS_SUSPEND_SYNC), XS_OK);
    EXPECT_EQ(gate(nullptr, open), hipSuccess);  // held
  });
  t.join();
  ASSERT_NE(null1, 0u);
  EXPECT_EQ(info_of(null1).pending, 1u);
  ASSERT_EQ(xs_hip_queue_resume(null1), XS_OK);  // from device 0
  ASSERT_TRUE(eventually([&] { return info_of(null1).pending == 0; }));
  hipError_t on_device1 = hipSuccess;
  std::thread query1([&] {
    EXPECT_EQ(hipSetDevice(1), hipSuccess);
    on_device1 = runtime_query(nullptr);
  });
  query1.join();
  const hipError_t on_device0 = runtime_query(nullptr);
  open.store(1, std::memory_order_release);
  EXPECT_EQ(on_device1, hipErrorNotReady) << "the held kernel did not run on device 1's null stream";
  EXPECT_EQ(on_device0, hipSuccess) << "the held kernel ran on device 0's null stream";
  EXPECT_EQ(xs_hip_queue_wait_all(null1, -1), XS_OK) << xs_hip_last_error();
}

TEST_F(HipControl, UnknownAndDestroyedStreamsAreInvalidHandles) {
  int not_a_stream = 0;
  uint64_t q = 0;
  EXPECT_EQ(xs_hip_stream_queue(&not_a_stream, -1, &q), XS_ERR_INVALID_HANDLE);
  EXPECT_TRUE(last_error_says("does not know")) << xs_hip_last_error();
  EXPECT_EQ(xs_hip_stream_queue(nullptr, -1, nullptr), XS_ERR_INVALID_ARG);

  hipStream_t s = stream();
  q = queue_of(s);
  ASSERT_EQ(hipStreamDestroy(s), hipSuccess);
  destroyed(s);
  xs_queue_info_t i{};
  i.struct_size = sizeof i;
  EXPECT_EQ(xs_hip_queue_query(q, &i), XS_ERR_INVALID_HANDLE);
  EXPECT_TRUE(last_error_says("no queue")) << xs_hip_last_error();
  EXPECT_EQ(xs_hip_queue_suspend(q, 0), XS_ERR_INVALID_HANDLE);
  xs_hip_queue_desc_t d{};
  d.struct_size = sizeof d;
  EXPECT_EQ(xs_hip_queue_describe(q, &d), XS_ERR_INVALID_HANDLE);
  EXPECT_FALSE(is_listed(q)) << "a destroyed stream's queue is still listed";
  EXPECT_EQ(xs_hip_stream_queue(s, -1, &q), XS_ERR_INVALID_HANDLE) << "a destroyed stream still has a queue";
}

TEST_F(HipControl, SuspendHoldsTheStreamUntilResume) {
  hipStream_t s = stream();
  const uint64_t q = queue_of(s);
  ASSERT_EQ(xs_hip_queue_suspend(q, XS_SUSPEND_SYNC), XS_OK) << xs_hip_last_error();
  const unsigned long long before = fake_hip_launches();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(work(s, 100), hipSuccess);
  std::this_thread::sleep_for(5ms);
  EXPECT_EQ(fake_hip_launches(), before) << "launches on a suspended stream reached the runtime";
  xs_queue_info_t i = info_of(q);
  EXPECT_EQ(i.suspended, 1);
  EXPECT_EQ(i.pending, 5u);
  EXPECT_EQ(xs_hip_queue_wait_all(q, 20'000'000), XS_ERR_TIMEOUT);
  EXPECT_TRUE(last_error_says("did not complete in time")) << xs_hip_last_error();
  EXPECT_EQ(xs_hip_queue_resume(q), XS_OK);
  EXPECT_EQ(xs_hip_queue_wait_all(q, -1), XS_OK) << xs_hip_last_error();
  EXPECT_EQ(fake_hip_launches(), before + 5);
  i = info_of(q);
  EXPECT_EQ(i.suspended, 0);
  EXPECT_EQ(i.completed, i.submitted);
  EXPECT_EQ(xs_hip_queue_suspend(q, 4), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_hip_queue_resume(q), XS_OK) << "resuming a running queue is harmless";
}

// A held launch that the runtime refuses when it is launched later (a grid
// of 0 blocks): wait_all reports it with the HIP error.
TEST_F(HipControl, WaitAllNamesTheHipErrorOfAFailedCommand) {
  hipStream_t s = stream();
  const uint64_t q = queue_of(s);
  ASSERT_EQ(xs_hip_queue_suspend(q, 0), XS_OK);
  const unsigned us = 10;
  ASSERT_EQ(launch(s, fake_hip_kernel_sleep(), us, 0), hipSuccess) << "a held launch is checked when it is launched";
  ASSERT_EQ(xs_hip_queue_resume(q), XS_OK);
  EXPECT_EQ(xs_hip_queue_wait_all(q, -1), XS_ERR_PLATFORM);
  EXPECT_TRUE(last_error_says("hipErrorInvalidValue")) << xs_hip_last_error();
  EXPECT_EQ(info_of(q).error, XS_ERR_PLATFORM);
}

// A priority given through the control API schedules like a stream priority.
TEST_F(HipControl, QueuePriorityPreemptsAndHintsAreChecked) {
  hipStream_t a = stream(hipStreamNonBlocking);
  hipStream_t b = stream(hipStreamNonBlocking);
  const uint64_t qa = queue_of(a);
  const uint64_t qb = queue_of(b);
  ASSERT_EQ(work(b), hipSuccess);  // b has had work: it counts
  ASSERT_EQ(hipStreamSynchronize(b), hipSuccess);
  ASSERT_EQ(xs_hip_queue_set_priority(qa, 5), XS_OK);
  std::atomic<int> open{0};
  ASSERT_EQ(gate(a, open), hipSuccess);  // a is ready: b is held when this returns
  const unsigned long long before = fake_hip_launches();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(work(b), hipSuccess);
  std::this_thread::sleep_for(5ms);
  EXPECT_EQ(fake_hip_launches(), before) << "the lower-priority stream launched while the higher one ran";
  EXPECT_EQ(info_of(qb).suspended, 1);
  open.store(1, std::memory_order_release);
  ASSERT_EQ(hipStreamSynchronize(a), hipSuccess);
  ASSERT_EQ(hipStreamSynchronize(b), hipSuccess);
  EXPECT_EQ(fake_hip_launches(), before + 4);

  EXPECT_EQ(xs_hip_queue_set_share(qa, 0), XS_ERR_INVALID_ARG);
  EXPECT_TRUE(last_error_says("share 0")) << xs_hip_last_error();
  EXPECT_EQ(xs_hip_queue_set_share(qa, 3), XS_OK);
  EXPECT_EQ(info_of(qa).hints.share, 3u);
  xs_hints_t h{2, 4, 0, 0};
  EXPECT_EQ(xs_hip_queue_set_hints(qa, &h), XS_OK);
  EXPECT_EQ(info_of(qa).hints.priority, 2);
  EXPECT_EQ(info_of(qa).hints.share, 4u);
  for (const xs_hints_t& bad : {xs_hints_t{0, 1, 1, 0}, xs_hints_t{0, 1, 0, 1}, xs_hints_t{1'000'001, 1, 0, 0}}) {
    EXPECT_EQ(xs_hip_queue_set_hints(qa, &bad), XS_ERR_INVALID_ARG);
  }
  EXPECT_TRUE(last_error_says("out of range")) << xs_hip_last_error();
  EXPECT_EQ(xs_hip_queue_set_hints(qa, nullptr), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_hip_queue_set_priority(qa, 1'000'001), XS_ERR_INVALID_ARG);
  EXPECT_TRUE(last_error_says("priority 1000001")) << xs_hip_last_error();
  xs_queue_info_t small{};
  small.struct_size = 4;
  EXPECT_EQ(xs_hip_queue_query(qa, &small), XS_ERR_INVALID_ARG);
  xs_hip_queue_desc_t dsmall{};
  EXPECT_EQ(xs_hip_queue_describe(qa, &dsmall), XS_ERR_INVALID_ARG);
}

TEST_F(HipControl, PriorityScopeCoversWhatTheThreadLaunches) {
  hipStream_t s = stream(hipStreamNonBlocking);
  hipStream_t other = stream(hipStreamNonBlocking);
  const uint64_t q = queue_of(s);
  const uint64_t q_other = queue_of(other);
  int32_t p = 0;
  EXPECT_EQ(xs_hip_thread_priority_get(&p), XS_ERR_STATE);
  EXPECT_EQ(xs_hip_thread_priority_pop(), XS_ERR_STATE);
  EXPECT_TRUE(last_error_says("no priority scope")) << xs_hip_last_error();

  ASSERT_EQ(xs_hip_thread_priority_push(7), XS_OK);
  EXPECT_EQ(xs_hip_thread_priority_get(&p), XS_OK);
  EXPECT_EQ(p, 7);
  EXPECT_EQ(info_of(q).hints.priority, 0) << "a scope changes only the queues the thread launches on";
  ASSERT_EQ(work(s), hipSuccess);
  EXPECT_EQ(info_of(q).hints.priority, 7) << "the launch did not take the scope's priority";
  ASSERT_EQ(xs_hip_thread_priority_push(9), XS_OK);  // nested
  std::atomic<int> open{1};
  ASSERT_EQ(gate(s, open), hipSuccess);  // any operation counts, whatever the kernel
  EXPECT_EQ(info_of(q).hints.priority, 9);
  std::thread t([&] { EXPECT_EQ(work(other), hipSuccess); });
  t.join();
  EXPECT_EQ(info_of(q_other).hints.priority, 0) << "another thread's launch was covered";
  ASSERT_EQ(xs_hip_thread_priority_pop(), XS_OK);
  EXPECT_EQ(info_of(q).hints.priority, 7) << "the inner scope's end gives the outer scope's priority back";
  ASSERT_EQ(xs_hip_thread_priority_pop(), XS_OK);
  EXPECT_EQ(info_of(q).hints.priority, 0) << "the queue's own priority comes back";
  EXPECT_EQ(xs_hip_thread_priority_push(-1'000'001), XS_ERR_INVALID_ARG);
}

// What a thread launches inside a high scope holds a lower queue, as a
// queue of that priority would.
TEST_F(HipControl, ScopeOfAnotherThreadPreempts) {
  hipStream_t low = stream(hipStreamNonBlocking);
  hipStream_t urgent = stream(hipStreamNonBlocking);
  const uint64_t q_urgent = queue_of(urgent);
  ASSERT_EQ(work(low), hipSuccess);
  ASSERT_EQ(hipStreamSynchronize(low), hipSuccess);
  std::atomic<int> open{0};
  std::atomic<bool> launched{false};
  std::thread t([&] {
    EXPECT_EQ(xs_hip_thread_priority_push(9), XS_OK);
    EXPECT_EQ(gate(urgent, open), hipSuccess);  // the scheduler has decided when this returns
    launched = true;
    EXPECT_EQ(hipStreamSynchronize(urgent), hipSuccess);  // until the main thread opens the gate
    EXPECT_EQ(xs_hip_thread_priority_pop(), XS_OK);
  });
  ASSERT_TRUE(eventually([&] { return launched.load(); }));
  EXPECT_EQ(info_of(q_urgent).hints.priority, 9);
  const unsigned long long before = fake_hip_launches();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(work(low), hipSuccess);
  std::this_thread::sleep_for(5ms);
  EXPECT_EQ(fake_hip_launches(), before) << "the low stream launched beside the scope's urgent work";
  open.store(1, std::memory_order_release);
  t.join();
  ASSERT_EQ(hipStreamSynchronize(low), hipSuccess);
  EXPECT_EQ(fake_hip_launches(), before + 4);
  EXPECT_EQ(info_of(q_urgent).hints.priority, 0);
}

TEST_F(HipControl, PolicyAndProcessHints) {
  xs_policy_t p = XS_POLICY_NONE;
  ASSERT_EQ(xs_hip_get_policy(&p), XS_OK);
  EXPECT_EQ(p, XS_POLICY_PRIORITY);
  ASSERT_EQ(xs_hip_set_policy(XS_POLICY_BANDWIDTH), XS_OK);
  ASSERT_EQ(xs_hip_get_policy(&p), XS_OK);
  EXPECT_EQ(p, XS_POLICY_BANDWIDTH);
  EXPECT_EQ(xs_hip_set_policy(static_cast<xs_policy_t>(42)), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_hip_get_policy(nullptr), XS_ERR_INVALID_ARG);
  ASSERT_EQ(xs_hip_set_policy(XS_POLICY_PRIORITY), XS_OK);
  const char* name = nullptr;
  ASSERT_EQ(xs_hip_policy_name(XS_POLICY_BANDWIDTH, &name), XS_OK);
  EXPECT_STREQ(name, "bandwidth");
  EXPECT_EQ(xs_hip_policy_name(static_cast<xs_policy_t>(42), &name), XS_ERR_INVALID_ARG);

  hipStream_t urgent = stream(hipStreamNonBlocking, -1);
  const uint64_t q = queue_of(urgent);
  xs_hints_t h{3, 2, 0, 0};
  ASSERT_EQ(xs_hip_set_process_hints(XS_HINT_PRIORITY | XS_HINT_SHARE, &h), XS_OK) << xs_hip_last_error();
  EXPECT_EQ(info_of(q).hints.priority, 4) << "the stream keeps its offset (+1) over the process's base";
  EXPECT_EQ(info_of(q).hints.share, 2u);
  const uint64_t q_later = queue_of(stream());
  EXPECT_EQ(info_of(q_later).hints.priority, 3) << "a queue made later gets the process's hints";
  EXPECT_EQ(xs_hip_set_process_hints(0, &h), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_hip_set_process_hints(XS_HINT_PRIORITY, nullptr), XS_ERR_INVALID_ARG);
  const xs_hints_t beyond{INT32_MAX, 1, 0, 50'000};
  EXPECT_EQ(xs_hip_set_process_hints(XS_HINT_PRIORITY, &beyond), XS_ERR_INVALID_ARG);

  const xs_hints_t defaults{0, 1, 0, 0};
  ASSERT_EQ(xs_hip_set_process_hints(XS_HINT_PRIORITY | XS_HINT_SHARE | XS_HINT_DEADLINE, &defaults), XS_OK);
  EXPECT_EQ(info_of(q).hints.priority, 1);
  EXPECT_EQ(info_of(q_later).hints.priority, 0);
}

TEST_F(HipControl, ListQueuesCountsBeyondTheCapacity) {
  const uint64_t qa = queue_of(stream());
  const uint64_t qb = queue_of(stream());
  size_t n = 0;
  ASSERT_EQ(xs_hip_list_queues(nullptr, 0, &n), XS_OK);
  EXPECT_GE(n, 2u);
  uint64_t one = 0;
  size_t m = 0;
  ASSERT_EQ(xs_hip_list_queues(&one, 1, &m), XS_OK);
  EXPECT_EQ(m, n);
  EXPECT_NE(one, 0u);
  EXPECT_TRUE(is_listed(qa));
  EXPECT_TRUE(is_listed(qb));
  EXPECT_EQ(xs_hip_list_queues(nullptr, 0, nullptr), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_hip_list_queues(nullptr, 4, &n), XS_ERR_INVALID_ARG);
}

}  // namespace
