// The fake CUDA driver's self-test: events (queries, waits, elapsed time, records).
#include "fake_cuda_selftest.h"

namespace fake_cuda_selftest {
namespace {

// ============================ events ============================

TEST_F(FakeCuda, EventNeverRecordedIsComplete) {
  CUevent e = mkevent();
  CUstream s = mkstream();
  CUdeviceptr x = dalloc();
  EXPECT_EQ(D(cuEventQuery)(e), CUDA_SUCCESS);
  CK(D(cuEventSynchronize)(e));
  CK(D(cuStreamWaitEvent)(s, e, 0));
  CK(add(s, x, 1));
  CK(D(cuStreamSynchronize)(s));
  EXPECT_EQ(dread(x), 1);
  float ms = 0;
  EXPECT_EQ(D(cuEventElapsedTime_v2)(&ms, e, e), CUDA_ERROR_INVALID_HANDLE);
  CK(D(cuEventDestroy_v2)(e));
  CK(D(cuStreamDestroy_v2)(s));
  CK(D(cuMemFree_v2)(x));
}

TEST_F(FakeCuda, EventQueryAndSynchronize) {
  CUevent e = mkevent();
  CUstream s = mkstream();
  Gate gate;
  gate.hold(s);
  CK(D(cuEventRecord)(e, s));
  EXPECT_EQ(D(cuEventQuery)(e), CUDA_ERROR_NOT_READY);
  gate.open();
  CK(D(cuEventSynchronize)(e));
  EXPECT_EQ(D(cuEventQuery)(e), CUDA_SUCCESS);
  EXPECT_EQ(D(cuStreamQuery)(s), CUDA_SUCCESS);
  const auto log = log_entries();
  const auto rec = find_op(log, "event_record", static_cast<long long>(g_api.event_id(e)));
  EXPECT_EQ(rec.op, FAKE_OP_EVENT_RECORD);
  CK(D(cuEventDestroy_v2)(e));
  CK(D(cuStreamDestroy_v2)(s));
}

TEST_F(FakeCuda, EventQueryUsesLatestRecord) {
  CUevent e = mkevent();
  CUstream s1 = mkstream(), s2 = mkstream();
  Gate gate;
  gate.hold(s1);
  CK(D(cuEventRecord)(e, s1));
  EXPECT_EQ(D(cuEventQuery)(e), CUDA_ERROR_NOT_READY);
  CK(D(cuEventRecord)(e, s2));  // s2 is idle: this record completes at once
  CK(D(cuEventSynchronize)(e));
  EXPECT_EQ(D(cuEventQuery)(e), CUDA_SUCCESS);
  EXPECT_EQ(D(cuStreamQuery)(s1), CUDA_ERROR_NOT_READY);
  gate.open();
  CK(D(cuEventDestroy_v2)(e));
  CK(D(cuStreamDestroy_v2)(s1));
  CK(D(cuStreamDestroy_v2)(s2));
}

TEST_F(FakeCuda, StreamWaitUsesRecordAtCallTime) {
  CUevent e = mkevent();
  CUstream s1 = mkstream(CU_STREAM_NON_BLOCKING), s2 = mkstream(CU_STREAM_NON_BLOCKING),
           s3 = mkstream(CU_STREAM_NON_BLOCKING);
  CUdeviceptr x = dalloc();
  // The wait binds to the pending record on s1, not to the later one on idle s3.
  CK(sleep_on(s1, 150000));
  CK(D(cuEventRecord)(e, s1));
  CK(D(cuStreamWaitEvent)(s2, e, 0));
  CK(D(cuEventRecord)(e, s3));
  CK(add(s2, x, 1));
  CK(D(cuStreamSynchronize)(s2));
  EXPECT_EQ(D(cuStreamQuery)(s1), CUDA_SUCCESS);
  // A wait made while the latest record is complete does not wait for a later record.
  CK(D(cuEventSynchronize)(e));
  CK(D(cuStreamWaitEvent)(s2, e, 0));
  {
    Gate gate;
    gate.hold(s1);
    CK(D(cuEventRecord)(e, s1));
    CK(add(s2, x, 1));
    CK(D(cuStreamSynchronize)(s2));
    EXPECT_EQ(D(cuStreamQuery)(s1), CUDA_ERROR_NOT_READY);
    EXPECT_EQ(D(cuEventQuery)(e), CUDA_ERROR_NOT_READY);
  }
  CK(D(cuCtxSynchronize)());
  EXPECT_EQ(dread(x), 2);
  EXPECT_EQ(D(cuStreamWaitEvent)(s2, e, 0x8), CUDA_ERROR_INVALID_VALUE);
  CK(D(cuEventDestroy_v2)(e));
  for (CUstream s : {s1, s2, s3}) CK(D(cuStreamDestroy_v2)(s));
  CK(D(cuMemFree_v2)(x));
}

TEST_F(FakeCuda, EventElapsedTime) {
  CUevent a = mkevent(), b = mkevent(), untimed = mkevent(CU_EVENT_DISABLE_TIMING);
  CUstream s = mkstream();
  float ms = -1;
  {
    Gate gate;
    gate.hold(s);
    CK(D(cuEventRecord)(a, s));
    CK(sleep_on(s, 30000));
    CK(D(cuEventRecordWithFlags)(b, s, CU_EVENT_RECORD_DEFAULT));
    EXPECT_EQ(D(cuEventElapsedTime_v2)(&ms, a, b), CUDA_ERROR_NOT_READY);
  }
  CK(D(cuEventSynchronize)(b));
  CK(D(cuEventElapsedTime_v2)(&ms, a, b));
  EXPECT_GE(ms, 29.0f);
  EXPECT_LT(ms, 1000.0f);
  CK(D(cuEventElapsedTime)(&ms, a, b));
  EXPECT_GE(ms, 29.0f);
  CK(D(cuEventRecord)(untimed, s));
  CK(D(cuStreamSynchronize)(s));
  EXPECT_EQ(D(cuEventElapsedTime_v2)(&ms, a, untimed), CUDA_ERROR_INVALID_HANDLE);
  CUevent bad = nullptr;
  EXPECT_EQ(D(cuEventCreate)(&bad, CU_EVENT_INTERPROCESS), CUDA_ERROR_INVALID_VALUE);
  for (CUevent e : {a, b, untimed}) CK(D(cuEventDestroy_v2)(e));
  CK(D(cuStreamDestroy_v2)(s));
}

TEST_F(FakeCuda, EventDestroyWithPendingRecord) {
  CUevent e = mkevent();
  CUstream s = mkstream();
  const int live = g_api.live_events();
  Gate gate;
  gate.hold(s);
  CK(D(cuEventRecord)(e, s));
  CK(D(cuEventDestroy_v2)(e));
  EXPECT_EQ(g_api.live_events(), live - 1);
  EXPECT_EQ(D(cuEventQuery)(e), CUDA_ERROR_INVALID_HANDLE);
  gate.open();
  CK(D(cuStreamSynchronize)(s));
  CK(D(cuStreamDestroy_v2)(s));
}

TEST_F(FakeCuda, EventRecordPtszUsesPerThreadStream) {
  CUevent e = mkevent();
  {
    Gate gate;
    gate.hold(nullptr, /*ptsz=*/true);
    CK(D(cuEventRecord_ptsz)(e, nullptr));
    EXPECT_EQ(D(cuEventQuery)(e), CUDA_ERROR_NOT_READY);
    EXPECT_EQ(g_api.stream_pending(CU_STREAM_PER_THREAD), 2);
    EXPECT_EQ(g_api.stream_pending(nullptr), 0);  // nothing went to the legacy stream
  }
  CK(D(cuEventSynchronize)(e));
  const auto log = log_entries();
  EXPECT_EQ(find_op(log, "event_record", static_cast<long long>(g_api.event_id(e))).stream_kind,
            FAKE_STREAM_PER_THREAD);
  CK(D(cuEventDestroy_v2)(e));
}

}  // namespace
}  // namespace fake_cuda_selftest
