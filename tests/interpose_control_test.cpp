// The CUDA interposer's control API (include/xsched/xsched_cuda.h), in front
// of the fake CUDA driver: finding the XQueue of a stream from any thread,
// default streams, hints, suspend/resume, waiting, listing, the policy,
// process-wide hints and priority scopes. Each check reads what the fake saw
// (launches that reached it) or what the queue reports.
//
// Run with XSCHED_REAL_LIBCUDA=<libfake_cuda.so> and XSCHED_LEVEL=1 (ctest
// sets both); the default policy (priority) is assumed.
#include "xsched/xsched_cuda.h"

#include <algorithm>
#include <string>

#include "interpose_sched_fixture.h"

namespace xs_sched_test {
namespace {

[[maybe_unused]] ::testing::Environment* const g_env = ::testing::AddGlobalTestEnvironment(new FakeDriverEnv);

class InterposeControl : public Sched {};

// The queue of stream s (device: for default streams), failing the test if there is none.
uint64_t queue_of(CUstream s, int32_t device = -1) {
  uint64_t q = 0;
  EXPECT_EQ(xs_cuda_stream_queue(s, device, &q), XS_OK) << xs_cuda_last_error();
  EXPECT_NE(q, 0u);
  return q;
}

xs_queue_info_t info_of(uint64_t q) {
  xs_queue_info_t i{};
  i.struct_size = sizeof i;
  EXPECT_EQ(xs_cuda_queue_query(q, &i), XS_OK) << xs_cuda_last_error();
  return i;
}

xs_cuda_queue_desc_t desc_of(uint64_t q) {
  xs_cuda_queue_desc_t d{};
  d.struct_size = sizeof d;
  EXPECT_EQ(xs_cuda_queue_describe(q, &d), XS_OK) << xs_cuda_last_error();
  return d;
}

std::vector<uint64_t> listed() {
  size_t n = 0;
  EXPECT_EQ(xs_cuda_list_queues(nullptr, 0, &n), XS_OK);
  std::vector<uint64_t> ids(n + 16);
  EXPECT_EQ(xs_cuda_list_queues(ids.data(), ids.size(), &n), XS_OK);
  ids.resize(std::min(n, ids.size()));
  return ids;
}

bool last_error_says(const char* words) { return std::string(xs_cuda_last_error()).find(words) != std::string::npos; }

TEST_F(InterposeControl, FoundInTheLoadedLibcudaBesideTheMarker) {
  void* self = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(self, nullptr);
  EXPECT_NE(dlsym(self, "xsched_interposer_abi"), nullptr);
  auto abi = reinterpret_cast<uint32_t (*)()>(dlsym(self, "xs_cuda_control_abi"));
  ASSERT_NE(abi, nullptr) << "the control API is not exported";
  EXPECT_EQ(abi(), static_cast<uint32_t>(XS_CUDA_CONTROL_ABI));
  for (const char* name : {"xs_cuda_stream_queue", "xs_cuda_queue_query", "xs_cuda_thread_priority_push",
                           "xs_cuda_set_policy", "xs_cuda_last_error"}) {
    EXPECT_NE(dlsym(self, name), nullptr) << name;
  }
}

// A stream the interposer has not seen yet gets its queue at the question,
// the same one its launches then use.
TEST_F(InterposeControl, QueueOfAStreamNotUsedYet) {
  CUstream s = stream(-1, CU_STREAM_NON_BLOCKING);
  const uint64_t q = queue_of(s);
  EXPECT_EQ(queue_of(s), q);
  const xs_cuda_queue_desc_t d = desc_of(q);
  EXPECT_EQ(d.kind, XS_CUDA_STREAM_EXPLICIT);
  EXPECT_EQ(d.queue, q);
  EXPECT_EQ(d.stream, static_cast<void*>(s));
  EXPECT_EQ(d.context, static_cast<void*>(g_ctx));
  EXPECT_EQ(d.device, 0);
  // Its scheduling domain: the GPU's UUID, as the driver gives it (the fake's "fake-cuda-dev-00").
  uint8_t uuid[16] = {};
  int32_t ordinal = -2;
  ASSERT_EQ(xs_cuda_queue_device(q, uuid, &ordinal), XS_OK) << xs_cuda_last_error();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(uuid), 16), "fake-cuda-dev-00");
  EXPECT_EQ(ordinal, 0);
  EXPECT_EQ(d.cuda_priority, -1);
  EXPECT_EQ(d.blocking, 0);
  xs_queue_info_t i = info_of(q);
  EXPECT_EQ(i.hints.priority, 1) << "CUDA priority -1 is xsched priority +1";
  EXPECT_EQ(i.submitted, 0u);
  ASSERT_EQ(work(s, 1), CUDA_SUCCESS);
  ASSERT_EQ(xs_cuda_queue_wait_all(q, -1), XS_OK) << xs_cuda_last_error();
  i = info_of(q);
  EXPECT_EQ(i.submitted, 1u) << "the stream's launch went to another queue";
  EXPECT_EQ(i.completed, 1u);
  const auto ids = listed();
  EXPECT_NE(std::find(ids.begin(), ids.end(), q), ids.end());
}

// The field report's case: the stream is made on one thread and wrapped on
// another that has no current context.
TEST_F(InterposeControl, QueueFromAThreadThatDidNotMakeTheStream) {
  CUstream s = stream();
  uint64_t from_thread = 0;
  std::thread t([&] {
    CUcontext ctx = nullptr;
    EXPECT_EQ(cuCtxGetCurrent(&ctx), CUDA_SUCCESS);
    EXPECT_EQ(ctx, nullptr) << "the thread should start without a context";
    EXPECT_EQ(xs_cuda_stream_queue(s, -1, &from_thread), XS_OK) << xs_cuda_last_error();
    EXPECT_EQ(xs_cuda_queue_set_priority(from_thread, 3), XS_OK);
  });
  t.join();
  ASSERT_NE(from_thread, 0u);
  ASSERT_EQ(work(s, 1), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(s), CUDA_SUCCESS);
  const xs_queue_info_t i = info_of(from_thread);
  EXPECT_EQ(i.submitted, 1u);
  EXPECT_EQ(i.hints.priority, 3);
}

TEST_F(InterposeControl, DefaultStreams) {
  const uint64_t legacy = queue_of(nullptr);
  EXPECT_EQ(queue_of(CU_STREAM_LEGACY), legacy);
  EXPECT_EQ(queue_of(nullptr, 0), legacy) << "device 0's primary context is current here";
  const xs_cuda_queue_desc_t d = desc_of(legacy);
  EXPECT_EQ(d.kind, XS_CUDA_STREAM_LEGACY);
  EXPECT_EQ(d.stream, static_cast<void*>(CU_STREAM_LEGACY));
  EXPECT_EQ(d.context, static_cast<void*>(g_ctx));
  const uint64_t before = info_of(legacy).submitted;
  ASSERT_EQ(work(nullptr, 1), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(nullptr), CUDA_SUCCESS);
  EXPECT_EQ(info_of(legacy).submitted, before + 1);

  const uint64_t per_thread = queue_of(CU_STREAM_PER_THREAD);
  EXPECT_NE(per_thread, legacy);
  EXPECT_EQ(desc_of(per_thread).kind, XS_CUDA_STREAM_PER_THREAD);
  EXPECT_EQ(desc_of(per_thread).stream, static_cast<void*>(CU_STREAM_PER_THREAD));
  ASSERT_EQ(work(nullptr, 2, 0, true), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize_ptsz(nullptr), CUDA_SUCCESS);
  EXPECT_EQ(info_of(per_thread).submitted, 1u);

  std::thread t([&] {
    uint64_t q = 0;
    EXPECT_EQ(xs_cuda_stream_queue(nullptr, -1, &q), XS_ERR_STATE);
    EXPECT_TRUE(last_error_says("no current CUDA context")) << xs_cuda_last_error();
    EXPECT_EQ(xs_cuda_stream_queue(nullptr, 0, &q), XS_OK) << xs_cuda_last_error();
    EXPECT_EQ(q, legacy) << "a thread without a context names the device";
    EXPECT_EQ(xs_cuda_stream_queue(nullptr, 7, &q), XS_ERR_INVALID_ARG);
    EXPECT_TRUE(last_error_says("device 7")) << xs_cuda_last_error();
  });
  t.join();
}

TEST_F(InterposeControl, UnknownAndDestroyedStreamsAreInvalidHandles) {
  int not_a_stream = 0;
  uint64_t q = 0;
  EXPECT_EQ(xs_cuda_stream_queue(&not_a_stream, -1, &q), XS_ERR_INVALID_HANDLE);
  EXPECT_TRUE(last_error_says("does not know")) << xs_cuda_last_error();
  EXPECT_EQ(xs_cuda_stream_queue(nullptr, -1, nullptr), XS_ERR_INVALID_ARG);

  CUstream s = stream();
  q = queue_of(s);
  ASSERT_EQ(cuStreamDestroy_v2(s), CUDA_SUCCESS);
  destroyed(s);
  xs_queue_info_t i{};
  i.struct_size = sizeof i;
  EXPECT_EQ(xs_cuda_queue_query(q, &i), XS_ERR_INVALID_HANDLE);
  EXPECT_TRUE(last_error_says("no queue")) << xs_cuda_last_error();
  EXPECT_EQ(xs_cuda_queue_suspend(q, 0), XS_ERR_INVALID_HANDLE);
  const auto ids = listed();
  EXPECT_EQ(std::find(ids.begin(), ids.end(), q), ids.end()) << "a destroyed stream's queue is still listed";
}

// The review's case: a thread that wrapped the stream keeps its queue in its
// stream cache; the stream destroyed on another thread must still be gone
// from the control API while that thread lives on.
TEST_F(InterposeControl, StreamWrappedOnAThreadAndDestroyedOnAnother) {
  CUstream s = stream();
  std::mutex mu;
  std::condition_variable cv;
  bool checked = false;
  std::atomic<uint64_t> q{0};
  std::thread worker([&] {
    uint64_t mine = 0;
    EXPECT_EQ(xs_cuda_stream_queue(s, -1, &mine), XS_OK) << xs_cuda_last_error();
    q.store(mine);
    std::unique_lock lk(mu);
    cv.notify_all();
    cv.wait(lk, [&] { return checked; });  // alive, its cache intact, until the checks are done
  });
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return q.load() != 0; });
  }
  ASSERT_EQ(cuStreamDestroy_v2(s), CUDA_SUCCESS);
  destroyed(s);
  xs_queue_info_t i{};
  i.struct_size = sizeof i;
  EXPECT_EQ(xs_cuda_queue_query(q.load(), &i), XS_ERR_INVALID_HANDLE);
  EXPECT_EQ(xs_cuda_queue_suspend(q.load(), 0), XS_ERR_INVALID_HANDLE);
  EXPECT_EQ(xs_cuda_queue_set_priority(q.load(), 2), XS_ERR_INVALID_HANDLE);
  const auto ids = listed();
  EXPECT_EQ(std::find(ids.begin(), ids.end(), q.load()), ids.end()) << "a destroyed stream's queue is still listed";
  {
    std::lock_guard lk(mu);
    checked = true;
  }
  cv.notify_all();
  worker.join();
}

// The per-thread default stream named by device, from a thread with no
// current context: its private stream is made in that device's context.
TEST_F(InterposeControl, PerThreadStreamByDeviceFromAThreadWithoutAContext) {
  std::thread t([&] {
    CUcontext ctx = nullptr;
    EXPECT_EQ(cuCtxGetCurrent(&ctx), CUDA_SUCCESS);
    EXPECT_EQ(ctx, nullptr) << "the thread should start without a context";
    uint64_t q = 0;
    EXPECT_EQ(xs_cuda_stream_queue(CU_STREAM_PER_THREAD, 0, &q), XS_OK) << xs_cuda_last_error();
    if (q == 0) return;
    EXPECT_EQ(desc_of(q).context, static_cast<void*>(g_ctx));
    EXPECT_EQ(desc_of(q).kind, XS_CUDA_STREAM_PER_THREAD);
    // Its launches reach the driver: the private stream is a stream of g_ctx.
    EXPECT_EQ(cuCtxSetCurrent(g_ctx), CUDA_SUCCESS);
    EXPECT_EQ(work(nullptr, 1, 0, true), CUDA_SUCCESS);
    EXPECT_EQ(cuStreamSynchronize_ptsz(nullptr), CUDA_SUCCESS);
    EXPECT_EQ(xs_cuda_queue_wait_all(q, -1), XS_OK) << xs_cuda_last_error();  // the queue learns of it a little later
    const xs_queue_info_t i = info_of(q);
    EXPECT_EQ(i.submitted, 1u);
    EXPECT_EQ(i.completed, 1u);
  });
  t.join();
}

TEST_F(InterposeControl, SuspendHoldsTheStreamUntilResume) {
  CUstream s = stream();
  const uint64_t q = queue_of(s);
  ASSERT_EQ(xs_cuda_queue_suspend(q, XS_SUSPEND_SYNC), XS_OK) << xs_cuda_last_error();
  const unsigned long long before = g_fake.launch_count();
  Watchdog dog({});
  for (int i = 0; i < 5; ++i) ASSERT_EQ(work(s, i, 100), CUDA_SUCCESS);
  EXPECT_FALSE(dog.fired()) << "a launch blocked on a suspended stream";
  EXPECT_EQ(g_fake.launch_count(), before) << "launches on a suspended stream reached the driver";
  xs_queue_info_t i = info_of(q);
  EXPECT_EQ(i.suspended, 1);
  EXPECT_EQ(i.pending, 5u);
  EXPECT_EQ(xs_cuda_queue_wait_all(q, 20'000'000), XS_ERR_TIMEOUT);
  EXPECT_EQ(xs_cuda_queue_resume(q), XS_OK);
  EXPECT_EQ(xs_cuda_queue_wait_all(q, -1), XS_OK) << xs_cuda_last_error();
  EXPECT_EQ(g_fake.launch_count(), before + 5);
  i = info_of(q);
  EXPECT_EQ(i.suspended, 0);
  EXPECT_EQ(i.completed, i.submitted);
  EXPECT_EQ(xs_cuda_queue_suspend(q, 4), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_cuda_queue_resume(q), XS_OK) << "resuming a running queue is harmless";
}

// A held-back launch that fails later: wait_all reports it with the CUDA error.
TEST_F(InterposeControl, WaitAllNamesTheCudaErrorOfAFailedCommand) {
  CUstream s = stream();
  const uint64_t q = queue_of(s);
  ASSERT_EQ(xs_cuda_queue_suspend(q, 0), XS_OK);
  ASSERT_EQ(work(s, 1), CUDA_SUCCESS);
  g_fake.inject_error("cuLaunchKernel", CUDA_ERROR_INVALID_VALUE, 1);
  ASSERT_EQ(xs_cuda_queue_resume(q), XS_OK);
  EXPECT_EQ(xs_cuda_queue_wait_all(q, -1), XS_ERR_PLATFORM);
  EXPECT_TRUE(last_error_says("CUDA_ERROR_INVALID_VALUE")) << xs_cuda_last_error();
  EXPECT_EQ(info_of(q).error, XS_ERR_PLATFORM);
}

// A priority given through the control API schedules like a stream priority.
TEST_F(InterposeControl, QueuePriorityPreemptsAndHintsAreChecked) {
  CUstream a = stream();
  CUstream b = stream();
  const uint64_t qa = queue_of(a);
  const uint64_t qb = queue_of(b);
  ASSERT_EQ(work(b, 1), CUDA_SUCCESS);  // b has had work: it counts
  ASSERT_EQ(cuStreamSynchronize(b), CUDA_SUCCESS);
  ASSERT_EQ(xs_cuda_queue_set_priority(qa, 5), XS_OK);
  Gate g;
  Watchdog dog({&g});
  ASSERT_EQ(gate(a, g, 100), CUDA_SUCCESS);  // a is ready: b is held when this returns
  const unsigned long long before = g_fake.launch_count();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(work(b, 10 + i), CUDA_SUCCESS);
  EXPECT_EQ(g_fake.launch_count(), before) << "the lower-priority stream launched while the higher one ran";
  EXPECT_EQ(info_of(qb).suspended, 1);
  g.open();
  ASSERT_EQ(cuStreamSynchronize(a), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(b), CUDA_SUCCESS);
  EXPECT_EQ(OpLog::read().work_tags_on(stream_id(b)), (std::vector<long long>{1, 10, 11, 12}));

  EXPECT_EQ(xs_cuda_queue_set_share(qa, 0), XS_ERR_INVALID_ARG);
  EXPECT_TRUE(last_error_says("share 0")) << xs_cuda_last_error();
  EXPECT_EQ(xs_cuda_queue_set_share(qa, 3), XS_OK);
  EXPECT_EQ(info_of(qa).hints.share, 3u);
  xs_hints_t h{2, 4, 0, 0};
  EXPECT_EQ(xs_cuda_queue_set_hints(qa, &h), XS_OK);
  EXPECT_EQ(info_of(qa).hints.priority, 2);
  EXPECT_EQ(info_of(qa).hints.share, 4u);
  h.timeslice_ns = -1;
  EXPECT_EQ(xs_cuda_queue_set_hints(qa, &h), XS_ERR_INVALID_ARG);
  // The ranges of core/hint_limits.h, as through every other way in.
  for (const xs_hints_t& bad : {xs_hints_t{0, 1, 1, 0}, xs_hints_t{0, 1, 99'999, 0}, xs_hints_t{0, 1, 0, 1},
                                xs_hints_t{0, 1, 0, 3'600'000'000'001}, xs_hints_t{1'000'001, 1, 0, 0},
                                xs_hints_t{INT32_MIN, 1, 0, 0}}) {
    EXPECT_EQ(xs_cuda_queue_set_hints(qa, &bad), XS_ERR_INVALID_ARG);
  }
  EXPECT_TRUE(last_error_says("out of range")) << xs_cuda_last_error();
  h = xs_hints_t{-1'000'000, 4, 100'000, 100'000};
  EXPECT_EQ(xs_cuda_queue_set_hints(qa, &h), XS_OK);
  EXPECT_EQ(xs_cuda_queue_set_priority(qa, 1'000'001), XS_ERR_INVALID_ARG);
  EXPECT_TRUE(last_error_says("priority 1000001")) << xs_cuda_last_error();
  EXPECT_EQ(xs_cuda_queue_set_priority(qa, INT32_MAX), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_cuda_queue_set_priority(qa, 1'000'000), XS_OK);
  EXPECT_EQ(xs_cuda_thread_priority_push(-1'000'001), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_cuda_queue_set_hints(qa, nullptr), XS_ERR_INVALID_ARG);
  xs_queue_info_t small{};
  small.struct_size = 4;
  EXPECT_EQ(xs_cuda_queue_query(qa, &small), XS_ERR_INVALID_ARG);
  xs_cuda_queue_desc_t dsmall{};
  EXPECT_EQ(xs_cuda_queue_describe(qa, &dsmall), XS_ERR_INVALID_ARG);
  EXPECT_FALSE(dog.fired());
}

TEST_F(InterposeControl, PriorityScopeCoversWhatTheThreadLaunches) {
  CUstream s = stream();
  CUstream other = stream();
  const uint64_t q = queue_of(s);
  const uint64_t q_other = queue_of(other);
  int32_t p = 0;
  EXPECT_EQ(xs_cuda_thread_priority_get(&p), XS_ERR_STATE);
  EXPECT_EQ(xs_cuda_thread_priority_pop(), XS_ERR_STATE);
  EXPECT_TRUE(last_error_says("no priority scope")) << xs_cuda_last_error();

  ASSERT_EQ(xs_cuda_thread_priority_push(7), XS_OK);
  EXPECT_EQ(xs_cuda_thread_priority_get(&p), XS_OK);
  EXPECT_EQ(p, 7);
  EXPECT_EQ(info_of(q).hints.priority, 0) << "a scope changes only the queues the thread launches on";
  ASSERT_EQ(work(s, 1), CUDA_SUCCESS);
  EXPECT_EQ(info_of(q).hints.priority, 7);
  ASSERT_EQ(xs_cuda_thread_priority_push(9), XS_OK);  // nested
  ASSERT_EQ(work(s, 2), CUDA_SUCCESS);
  EXPECT_EQ(info_of(q).hints.priority, 9);
  // Another thread's launches are not covered by this thread's scope.
  std::thread t([&] {
    EXPECT_EQ(cuCtxSetCurrent(g_ctx), CUDA_SUCCESS);
    EXPECT_EQ(work(other, 3), CUDA_SUCCESS);
  });
  t.join();
  EXPECT_EQ(info_of(q_other).hints.priority, 0);
  ASSERT_EQ(xs_cuda_thread_priority_pop(), XS_OK);
  EXPECT_EQ(info_of(q).hints.priority, 7) << "the inner scope's end gives the outer scope's priority back";
  ASSERT_EQ(xs_cuda_thread_priority_pop(), XS_OK);
  EXPECT_EQ(info_of(q).hints.priority, 0) << "the queue's own priority comes back";

  // A priority set on the queue during a scope is its own from then on.
  ASSERT_EQ(xs_cuda_thread_priority_push(7), XS_OK);
  ASSERT_EQ(work(s, 4), CUDA_SUCCESS);
  ASSERT_EQ(xs_cuda_queue_set_priority(q, 2), XS_OK);
  ASSERT_EQ(work(s, 5), CUDA_SUCCESS);
  EXPECT_EQ(info_of(q).hints.priority, 2);
  ASSERT_EQ(xs_cuda_thread_priority_pop(), XS_OK);
  EXPECT_EQ(info_of(q).hints.priority, 2);
  ASSERT_EQ(cuStreamSynchronize(s), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(other), CUDA_SUCCESS);
}

// Two threads' scopes on one queue: it has the newest scope's priority, and
// its own once both ended, in either order.
TEST_F(InterposeControl, ScopesOfTwoThreadsOnOneQueue) {
  CUstream s = stream();
  const uint64_t q = queue_of(s);
  std::mutex mu;
  std::condition_variable cv;
  int step = 0;
  auto wait_step = [&](int n) {
    std::unique_lock lk(mu);
    EXPECT_TRUE(cv.wait_for(lk, 5s, [&] { return step >= n; }));
  };
  auto next_step = [&] {
    std::lock_guard lk(mu);
    ++step;
    cv.notify_all();
  };
  std::thread a([&] {
    EXPECT_EQ(cuCtxSetCurrent(g_ctx), CUDA_SUCCESS);
    EXPECT_EQ(xs_cuda_thread_priority_push(4), XS_OK);
    EXPECT_EQ(work(s, 1), CUDA_SUCCESS);
    next_step();  // 1: a covers q
    wait_step(2);
    EXPECT_EQ(xs_cuda_thread_priority_pop(), XS_OK);  // a ends first: b's scope still covers q
    next_step();  // 3
  });
  std::thread b([&] {
    EXPECT_EQ(cuCtxSetCurrent(g_ctx), CUDA_SUCCESS);
    wait_step(1);
    EXPECT_EQ(info_of(q).hints.priority, 4);
    EXPECT_EQ(xs_cuda_thread_priority_push(6), XS_OK);
    EXPECT_EQ(work(s, 2), CUDA_SUCCESS);
    EXPECT_EQ(info_of(q).hints.priority, 6);
    next_step();  // 2
    wait_step(3);
    EXPECT_EQ(info_of(q).hints.priority, 6) << "the end of a's scope took b's priority away";
    EXPECT_EQ(xs_cuda_thread_priority_pop(), XS_OK);
  });
  a.join();
  b.join();
  EXPECT_EQ(info_of(q).hints.priority, 0);
  ASSERT_EQ(cuStreamSynchronize(s), CUDA_SUCCESS);
}

// What a thread launches inside a high scope preempts a lower queue, as a
// queue of that priority would.
TEST_F(InterposeControl, ScopeOfAnotherThreadPreempts) {
  CUstream low = stream();
  CUstream urgent = stream();
  const uint64_t q_urgent = queue_of(urgent);
  ASSERT_EQ(work(low, 1), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);
  Gate g;
  Watchdog dog({&g});
  std::atomic<bool> launched{false};
  std::thread t([&] {
    EXPECT_EQ(cuCtxSetCurrent(g_ctx), CUDA_SUCCESS);
    EXPECT_EQ(xs_cuda_thread_priority_push(9), XS_OK);
    EXPECT_EQ(gate(urgent, g, 100), CUDA_SUCCESS);  // the scheduler has decided when this returns
    launched = true;
    EXPECT_EQ(cuStreamSynchronize(urgent), CUDA_SUCCESS);  // until the main thread opens the gate
    EXPECT_EQ(xs_cuda_thread_priority_pop(), XS_OK);
  });
  ASSERT_TRUE(eventually([&] { return launched.load(); }));
  EXPECT_EQ(info_of(q_urgent).hints.priority, 9);
  const unsigned long long before = g_fake.launch_count();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(work(low, 10 + i), CUDA_SUCCESS);
  EXPECT_EQ(g_fake.launch_count(), before) << "the low stream launched beside the scope's urgent work";
  g.open();
  t.join();
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);
  EXPECT_EQ(info_of(q_urgent).hints.priority, 0);
  EXPECT_EQ(OpLog::read().work_tags_on(stream_id(low)), (std::vector<long long>{1, 10, 11, 12}));
  EXPECT_FALSE(dog.fired());
}

TEST_F(InterposeControl, PolicyAndProcessHints) {
  xs_policy_t p = XS_POLICY_NONE;
  ASSERT_EQ(xs_cuda_get_policy(&p), XS_OK);
  EXPECT_EQ(p, XS_POLICY_PRIORITY);
  ASSERT_EQ(xs_cuda_set_policy(XS_POLICY_BANDWIDTH), XS_OK);
  ASSERT_EQ(xs_cuda_get_policy(&p), XS_OK);
  EXPECT_EQ(p, XS_POLICY_BANDWIDTH);
  EXPECT_EQ(xs_cuda_set_policy(static_cast<xs_policy_t>(42)), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_cuda_get_policy(nullptr), XS_ERR_INVALID_ARG);
  ASSERT_EQ(xs_cuda_set_policy(XS_POLICY_PRIORITY), XS_OK);
  // Names, for a program that reaches only the interposer (the Python package).
  const char* name = nullptr;
  ASSERT_EQ(xs_cuda_policy_name(XS_POLICY_BANDWIDTH, &name), XS_OK);
  EXPECT_STREQ(name, "bandwidth");
  EXPECT_EQ(xs_cuda_policy_name(static_cast<xs_policy_t>(42), &name), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_cuda_policy_name(XS_POLICY_NONE, nullptr), XS_ERR_INVALID_ARG);

  CUstream urgent = stream(-1);
  const uint64_t q = queue_of(urgent);
  xs_hints_t h{3, 2, 0, 0};
  ASSERT_EQ(xs_cuda_set_process_hints(XS_HINT_PRIORITY | XS_HINT_SHARE, &h), XS_OK) << xs_cuda_last_error();
  EXPECT_EQ(info_of(q).hints.priority, 4) << "the stream keeps its offset (+1) over the process's base";
  EXPECT_EQ(info_of(q).hints.share, 2u);
  CUstream later = stream();
  const uint64_t q_later = queue_of(later);
  EXPECT_EQ(info_of(q_later).hints.priority, 3) << "a queue made later gets the process's hints";
  EXPECT_EQ(info_of(q_later).hints.share, 2u);

  EXPECT_EQ(xs_cuda_set_process_hints(0, &h), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_cuda_set_process_hints(8, &h), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_cuda_set_process_hints(XS_HINT_PRIORITY, nullptr), XS_ERR_INVALID_ARG);
  xs_hints_t bad{0, 0, 0, -1};
  EXPECT_EQ(xs_cuda_set_process_hints(XS_HINT_SHARE, &bad), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_cuda_set_process_hints(XS_HINT_DEADLINE, &bad), XS_ERR_INVALID_ARG);
  const xs_hints_t beyond{INT32_MAX, 1, 0, 50'000};  // priority past 1000000, deadline under 100 us
  EXPECT_EQ(xs_cuda_set_process_hints(XS_HINT_PRIORITY, &beyond), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_cuda_set_process_hints(XS_HINT_DEADLINE, &beyond), XS_ERR_INVALID_ARG);

  // Back to the defaults, for the tests that follow in this process.
  const xs_hints_t defaults{0, 1, 0, 0};
  ASSERT_EQ(xs_cuda_set_process_hints(XS_HINT_PRIORITY | XS_HINT_SHARE | XS_HINT_DEADLINE, &defaults), XS_OK);
  EXPECT_EQ(info_of(q).hints.priority, 1);
  EXPECT_EQ(info_of(q_later).hints.priority, 0);
}

TEST_F(InterposeControl, ListQueuesCountsBeyondTheCapacity) {
  CUstream a = stream();
  CUstream b = stream();
  const uint64_t qa = queue_of(a);
  const uint64_t qb = queue_of(b);
  size_t n = 0;
  ASSERT_EQ(xs_cuda_list_queues(nullptr, 0, &n), XS_OK);
  EXPECT_GE(n, 2u);
  uint64_t one = 0;
  size_t m = 0;
  ASSERT_EQ(xs_cuda_list_queues(&one, 1, &m), XS_OK);
  EXPECT_EQ(m, n);
  EXPECT_NE(one, 0u);
  const auto ids = listed();
  EXPECT_NE(std::find(ids.begin(), ids.end(), qa), ids.end());
  EXPECT_NE(std::find(ids.begin(), ids.end(), qb), ids.end());
  EXPECT_EQ(xs_cuda_list_queues(nullptr, 0, nullptr), XS_ERR_INVALID_ARG);
  EXPECT_EQ(xs_cuda_list_queues(nullptr, 4, &n), XS_ERR_INVALID_ARG);
}

}  // namespace
}  // namespace xs_sched_test
