// Spatial reservation end to end, in front of the fake CUDA driver (which
// models green contexts): while a more urgent queue is around, a less urgent
// queue's kernels run on a stream of a green context that leaves SMs free,
// and everything the application can observe about its own stream stays as
// without it: order with the stream's other operations, synchronisation,
// queries, cuMemFree while held, and the whole device again after the linger.
//
// Run with XSCHED_LEVEL=2, XSCHED_RESERVE_SMS=8, XSCHED_RESERVE_LINGER_MS=300,
// XSCHED_REQUEST_GRACE_US=1000000
// and XSCHED_REAL_LIBCUDA=<libfake_cuda.so> (ctest sets them). The
// InterposeReserveUnsupported tests run in a process of their own: a device's
// partition is made once per process.
#include "interpose_sched_fixture.h"

namespace xs_sched_test {
namespace {

[[maybe_unused]] ::testing::Environment* const g_env = ::testing::AddGlobalTestEnvironment(new FakeDriverEnv);

constexpr unsigned kDeviceSms = 132;
constexpr unsigned kReserve = 8;  // XSCHED_RESERVE_SMS
constexpr auto kLinger = 300ms;   // XSCHED_RESERVE_LINGER_MS

unsigned long long ctx_id(CUcontext c) {
  unsigned long long id = 0;
  EXPECT_EQ(cuCtxGetId(c, &id), CUDA_SUCCESS);
  return id;
}

class InterposeReserve : public Sched {
 protected:
  void SetUp() override {
    Sched::SetUp();
    if (!holder().made()) {  // the holder's queue must exist: it is the more urgent one
      holder().hold();
      holder().release();
      holder().settle();
    }
  }

 public:
  // The tagged work kernels in the order they started, with the SMs of the context each ran in.
  struct Ran {
    long long tag;
    unsigned sms;
    unsigned long long ctx;
  };
  static std::vector<Ran> work_ran() {
    std::vector<Ran> out;
    for (const auto& e : OpLog::read().entries) {
      if (OpLog::is_tagged(e) && std::string(e.name) == "xs_work" && e.value >= 0) {
        out.push_back(Ran{e.value, g_fake.ctx_sm_count(e.ctx_id), e.ctx_id});
      }
    }
    return out;
  }
};

// While the holder is ready, and for the linger after, the low queue's
// kernels run on fewer SMs than the device has (at least the reserve fewer),
// in the order they were launched; after the linger, on the whole device.
TEST_F(InterposeReserve, LowKernelsLeaveTheReserveFreeWhileAMoreUrgentQueueIsAround) {
  CUstream low = stream(0);
  holder().hold();
  for (int i = 0; i < 10; ++i) ASSERT_EQ(work(low, i, 200), CUDA_SUCCESS);
  holder().release();
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);
  for (int i = 10; i < 15; ++i) ASSERT_EQ(work(low, i, 200), CUDA_SUCCESS);  // within the linger
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);

  std::vector<Ran> ran = work_ran();
  ASSERT_EQ(ran.size(), 15u);
  for (int i = 0; i < 15; ++i) {
    EXPECT_EQ(ran[i].tag, i) << "out of order";
    EXPECT_GT(ran[i].sms, 0u);
    EXPECT_LE(ran[i].sms, kDeviceSms - kReserve) << "kernel " << i << " ran on the whole device";
    EXPECT_NE(ran[i].ctx, ctx_id(g_ctx));
  }

  std::this_thread::sleep_for(kLinger + 100ms);
  g_fake.log_clear();
  ASSERT_EQ(work(low, 100), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);
  ran = work_ran();
  ASSERT_EQ(ran.size(), 1u);
  EXPECT_EQ(ran[0].ctx, ctx_id(g_ctx)) << "after the linger the kernel should use the whole device";
  EXPECT_EQ(ran[0].sms, kDeviceSms);
}

// Only kernels move: a memset between two confined kernels still runs after
// the first and before the second, and an event recorded after them on the
// application's stream completes after both.
TEST_F(InterposeReserve, ConfinedKernelsKeepTheirPlaceAmongTheStreamsOtherOperations) {
  CUstream low = stream(0);
  int* buf = dalloc_ints(2);
  CUevent done = nullptr;
  ASSERT_EQ(cuEventCreate(&done, CU_EVENT_DEFAULT), CUDA_SUCCESS);
  holder().hold();
  holder().release();  // the low queue is confined for the linger from here
  ASSERT_EQ(work(low, 1, 20'000), CUDA_SUCCESS);
  ASSERT_EQ(cuMemsetD32Async(reinterpret_cast<CUdeviceptr>(buf), 5, 2, low), CUDA_SUCCESS);
  ASSERT_EQ(work(low, 2, 20'000), CUDA_SUCCESS);
  ASSERT_EQ(cuEventRecord(done, low), CUDA_SUCCESS);
  ASSERT_EQ(cuEventSynchronize(done), CUDA_SUCCESS);
  EXPECT_TRUE(finished(1));
  EXPECT_TRUE(finished(2)) << "the event completed before the confined kernel in front of it";

  const OpLog log = OpLog::read();
  const FakeCudaLogEntry* k1 = log.one(1);
  const FakeCudaLogEntry* k2 = log.one(2);
  const FakeCudaLogEntry* set = nullptr;
  for (const auto& e : log.entries) {
    if (e.op == FAKE_OP_MEMSET && e.value == 5) set = &e;
  }
  ASSERT_NE(set, nullptr);
  EXPECT_TRUE(ran_before(k1, set)) << "the memset overtook the confined kernel before it";
  EXPECT_TRUE(ran_before(set, k2)) << "the confined kernel overtook the memset before it";
  EXPECT_NE(k1->stream_id, stream_id(low)) << "the kernel was not confined";
  EXPECT_EQ(set->stream_id, stream_id(low)) << "only kernels move to the partition";
  EXPECT_EQ(cuEventDestroy_v2(done), CUDA_SUCCESS);
  dfree(buf);
}

// What waits for the application's stream waits for its confined kernels:
// a query says not ready while one runs; stream and context synchronisation
// return after it.
TEST_F(InterposeReserve, QueriesAndSynchronisationsSeeConfinedKernels) {
  CUstream low = stream(0);
  holder().hold();
  holder().release();
  ASSERT_EQ(work(low, 1, 100'000), CUDA_SUCCESS);
  ASSERT_TRUE(eventually([] { return OpLog::read().has(1); }));
  EXPECT_EQ(cuStreamQuery(low), CUDA_ERROR_NOT_READY);
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);
  EXPECT_TRUE(finished(1));

  holder().hold();  // the low queue is idle: nothing waits; the linger starts again at the release
  holder().release();
  ASSERT_EQ(work(low, 2, 100'000), CUDA_SUCCESS);
  ASSERT_EQ(cuCtxSynchronize(), CUDA_SUCCESS);
  EXPECT_TRUE(finished(2)) << "cuCtxSynchronize returned while a confined kernel ran";
  EXPECT_NE(OpLog::read().one(2)->ctx_id, ctx_id(g_ctx));
}

// A held low queue with confined kernels behind its gate: cuMemFree, which
// waits for the device's streams, still returns (the gate is opened for it
// as without reservation), after the low work.
TEST_F(InterposeReserve, MemFreeWhileHeldWithConfinedWorkReturns) {
  CUstream low = stream(0);
  int* buf = dalloc_ints(4);
  holder().hold();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(work(low, i, 1000), CUDA_SUCCESS);
  {
    Watchdog dog({});
    dfree(buf);
    EXPECT_FALSE(dog.fired()) << "cuMemFree waited for a closed gate";
  }
  EXPECT_EQ(work_ran().size(), 5u) << "the free must come after the stream's work";
  holder().release();
}

// A kernel the partition refuses (here: the driver fails the confined launch
// once) runs on the application's stream, on the whole device, exactly once,
// and the program sees no error.
TEST_F(InterposeReserve, AKernelThePartitionRefusesRunsOnTheWholeDevice) {
  CUstream low = stream(0);
  holder().hold();
  holder().release();  // confined for the linger
  ASSERT_EQ(work(low, 1), CUDA_SUCCESS);  // opens the partition's stream
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);
  g_fake.log_clear();
  g_fake.inject_error("cuLaunchKernel", CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE, 1);
  ASSERT_EQ(work(low, 2), CUDA_SUCCESS);
  ASSERT_EQ(work(low, 3), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);
  const std::vector<Ran> ran = work_ran();
  ASSERT_EQ(ran.size(), 2u);
  EXPECT_EQ(ran[0].tag, 2);
  EXPECT_EQ(ran[0].ctx, ctx_id(g_ctx)) << "the refused kernel should run on the application's stream";
  EXPECT_EQ(ran[1].tag, 3);
  EXPECT_NE(ran[1].ctx, ctx_id(g_ctx)) << "the next kernel should be confined again";
}

// One linger (and a margin) after the urgent queue's request ended, but
// before a grace plus a linger: a low kernel uses the whole device only if the
// request ended when `why`.
void expect_whole_device_after_linger(CUstream low, const char* why) {
  std::this_thread::sleep_for(kLinger + 600ms);
  g_fake.log_clear();
  ASSERT_EQ(work(low, 2), CUDA_SUCCESS);
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);
  const std::vector<InterposeReserve::Ran> ran = InterposeReserve::work_ran();
  ASSERT_EQ(ran.size(), 1u);
  EXPECT_EQ(ran[0].ctx, ctx_id(g_ctx)) << "the urgent queue still counted as busy after " << why;
}

// A more urgent stream whose program polls it until done has ended its
// request there (request-aware holds end at a "done" query, not only at a
// synchronisation): the reserve is free one linger later, not one grace
// (XSCHED_REQUEST_GRACE_US, 1 s here) plus the linger.
TEST_F(InterposeReserve, AQueryThatSaysDoneEndsTheUrgentRequest) {
  CUstream urgent = stream(-1);
  CUstream low = stream(0);
  ASSERT_EQ(work(urgent, 1, 1000), CUDA_SUCCESS);
  ASSERT_TRUE(eventually([&] { return cuStreamQuery(urgent) == CUDA_SUCCESS; }));
  expect_whole_device_after_linger(low, "its query said done");
}

// The same with an event the program records after its request and polls.
TEST_F(InterposeReserve, AnEventQueryThatSaysDoneEndsTheUrgentRequest) {
  CUstream urgent = stream(-1);
  CUstream low = stream(0);
  CUevent done = nullptr;
  ASSERT_EQ(cuEventCreate(&done, CU_EVENT_DISABLE_TIMING), CUDA_SUCCESS);
  ASSERT_EQ(work(urgent, 1, 1000), CUDA_SUCCESS);
  ASSERT_EQ(cuEventRecord(done, urgent), CUDA_SUCCESS);
  // The queue's worker sees the record complete before the program's first query does.
  ASSERT_TRUE(eventually([&] { return finished(1); }));
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(eventually([&] { return cuEventQuery(done) == CUDA_SUCCESS; }));
  expect_whole_device_after_linger(low, "its event said done");
  EXPECT_EQ(cuEventDestroy_v2(done), CUDA_SUCCESS);
}

// ---- a driver without green contexts (own process) ----

class InterposeReserveUnsupported : public Sched {};

TEST_F(InterposeReserveUnsupported, KernelsStayOnTheirStreamAndRunOnce) {
  g_fake.set_green_supported(0);  // before the first confined launch: no partition can be made
  CUstream low = stream(0);
  holder().hold();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(work(low, i, 100), CUDA_SUCCESS);
  holder().release();
  ASSERT_EQ(cuStreamSynchronize(low), CUDA_SUCCESS);
  const OpLog log = OpLog::read();
  EXPECT_EQ(log.work_tags_on(stream_id(low)), (std::vector<long long>{0, 1, 2, 3, 4}));
  g_fake.set_green_supported(1);
}

}  // namespace
}  // namespace xs_sched_test
