// The fake CUDA driver's self-test: green contexts and SM resources.
#include "fake_cuda_selftest.h"

namespace fake_cuda_selftest {
namespace {

// ============================ green contexts ============================

CUdevResource device_sms() {
  CUdevResource r{};
  EXPECT_EQ(D(cuDeviceGetDevResource)(0, &r, CU_DEV_RESOURCE_TYPE_SM), CUDA_SUCCESS);
  return r;
}

CUresult split(CUdevResource* result, unsigned* n, const CUdevResource* input, CUdevResource* rest,
               unsigned min_count, unsigned flags = 0) {
  return D(cuDevSmResourceSplitByCount)(result, n, input, rest, flags, min_count);
}

// A green context of the first group of a split of the device into groups of min_count SMs.
CUgreenCtx mkgreen(unsigned min_count) {
  CUdevResource dev = device_sms();
  CUdevResource group{};
  unsigned n = 1;
  EXPECT_EQ(split(&group, &n, &dev, nullptr, min_count), CUDA_SUCCESS);
  CUdevResourceDesc desc = nullptr;
  EXPECT_EQ(D(cuDevResourceGenerateDesc)(&desc, &group, 1), CUDA_SUCCESS);
  CUgreenCtx g = nullptr;
  EXPECT_EQ(D(cuGreenCtxCreate)(&g, desc, 0, CU_GREEN_CTX_DEFAULT_STREAM), CUDA_SUCCESS);
  return g;
}

CUcontext ctx_of(CUgreenCtx g) {
  CUcontext c = nullptr;
  EXPECT_EQ(D(cuCtxFromGreenCtx)(&c, g), CUDA_SUCCESS);
  return c;
}

unsigned long long ctx_id(CUcontext c) {
  unsigned long long id = 0;
  EXPECT_EQ(D(cuCtxGetId)(c, &id), CUDA_SUCCESS);
  return id;
}

CUstream mkgreenstream(CUgreenCtx g, int priority = 0) {
  CUstream s = nullptr;
  EXPECT_EQ(D(cuGreenCtxStreamCreate)(&s, g, CU_STREAM_NON_BLOCKING, priority), CUDA_SUCCESS);
  return s;
}

CUgreenCtx green_of(CUstream s) {
  CUgreenCtx g = reinterpret_cast<CUgreenCtx>(1);
  EXPECT_EQ(D(cuStreamGetGreenCtx)(s, &g), CUDA_SUCCESS);
  return g;
}

TEST_F(FakeCuda, GreenSmResourceSplit) {
  const CUdevResource dev = device_sms();
  EXPECT_EQ(dev.type, CU_DEV_RESOURCE_TYPE_SM);
  EXPECT_EQ(dev.sm.smCount, 132u);
  EXPECT_EQ(dev.sm.minSmPartitionSize, 8u);
  EXPECT_EQ(dev.sm.smCount % dev.sm.smCoscheduledAlignment, 0u);
  int sms = 0;
  CK(D(cuDeviceGetAttribute)(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0));
  EXPECT_EQ(sms, 132);

  // A NULL result asks how many groups would be made: 132 / 16.
  unsigned n = 0;
  CK(split(nullptr, &n, &dev, nullptr, 16));
  EXPECT_EQ(n, 8u);
  // 20 rounds up to 24 SMs a group: 5 fit.
  n = 0;
  CK(split(nullptr, &n, &dev, nullptr, 20));
  EXPECT_EQ(n, 5u);
  // Two asked for: two groups of 24, the other 84 SMs remain.
  CUdevResource groups[4]{};
  CUdevResource rest{};
  n = 2;
  CK(split(groups, &n, &dev, &rest, 20));
  ASSERT_EQ(n, 2u);
  for (unsigned i = 0; i < n; ++i) {
    EXPECT_EQ(groups[i].type, CU_DEV_RESOURCE_TYPE_SM);
    EXPECT_EQ(groups[i].sm.smCount, 24u);
    EXPECT_EQ(groups[i].sm.smCoscheduledAlignment, 8u);
  }
  EXPECT_EQ(rest.type, CU_DEV_RESOURCE_TYPE_SM);
  EXPECT_EQ(rest.sm.smCount, 84u);
  // minCount 0: groups of the minimum, 8; more asked for than fit: what fits.
  std::vector<CUdevResource> many(100);
  n = 100;
  CK(split(many.data(), &n, &dev, &rest, 0));
  EXPECT_EQ(n, 16u);
  EXPECT_EQ(many[0].sm.smCount, 8u);
  EXPECT_EQ(many[15].sm.smCount, 8u);
  EXPECT_EQ(rest.sm.smCount, 4u);
  n = 3;
  CK(split(groups, &n, &dev, nullptr, 1));  // remaining may be NULL
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(groups[2].sm.smCount, 8u);
  // Ignoring coscheduling, groups are multiples of 2.
  n = 1;
  CK(split(groups, &n, &dev, &rest, 3, CU_DEV_SM_RESOURCE_SPLIT_IGNORE_SM_COSCHEDULING));
  EXPECT_EQ(groups[0].sm.smCount, 4u);
  EXPECT_EQ(rest.sm.smCount, 128u);

  EXPECT_EQ(split(groups, nullptr, &dev, nullptr, 8), CUDA_ERROR_INVALID_VALUE);
  n = 1;
  EXPECT_EQ(split(groups, &n, nullptr, nullptr, 8), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(split(groups, &n, &dev, nullptr, 133), CUDA_ERROR_INVALID_VALUE);  // more than the input
  EXPECT_EQ(split(groups, &n, &dev, nullptr, 130), CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION);  // 136 > 132
  EXPECT_EQ(split(groups, &n, &dev, nullptr, 8, 0x100), CUDA_ERROR_INVALID_VALUE);
  n = 0;
  EXPECT_EQ(split(groups, &n, &dev, nullptr, 8), CUDA_ERROR_INVALID_VALUE);  // an empty result array
  n = 1;
  CUdevResource invalid{};
  EXPECT_EQ(split(groups, &n, &invalid, nullptr, 8), CUDA_ERROR_INVALID_RESOURCE_TYPE);
  CUdevResource forged{};
  forged.type = CU_DEV_RESOURCE_TYPE_SM;
  forged.sm.smCount = 64;
  EXPECT_EQ(split(groups, &n, &forged, nullptr, 8), CUDA_ERROR_INVALID_VALUE);  // not made by the driver
  CUdevResource again[2]{};
  EXPECT_EQ(split(again, &n, &many[0], nullptr, 8), CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION);  // a split's output
  CUdevResource r{};
  EXPECT_EQ(D(cuDeviceGetDevResource)(1, &r, CU_DEV_RESOURCE_TYPE_SM), CUDA_ERROR_INVALID_DEVICE);
  EXPECT_EQ(D(cuDeviceGetDevResource)(0, &r, CU_DEV_RESOURCE_TYPE_INVALID), CUDA_ERROR_INVALID_RESOURCE_TYPE);
  EXPECT_EQ(D(cuDeviceGetDevResource)(0, nullptr, CU_DEV_RESOURCE_TYPE_SM), CUDA_ERROR_INVALID_VALUE);

  // The SM count is one setting: the attribute and the resource.
  g_api.set_sm_count(64);
  CK(D(cuDeviceGetAttribute)(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0));
  EXPECT_EQ(sms, 64);
  const CUdevResource small = device_sms();
  EXPECT_EQ(small.sm.smCount, 64u);
  n = 0;
  CK(split(nullptr, &n, &small, nullptr, 16));
  EXPECT_EQ(n, 4u);
  EXPECT_EQ(g_api.ctx_sm_count(ctx_id(g_ctx)), 64u);
  g_api.set_sm_count(132);
  EXPECT_EQ(g_api.ctx_sm_count(ctx_id(g_ctx)), 132u);
}

TEST_F(FakeCuda, GreenCtxCreateAndDestroy) {
  const CUdevResource dev = device_sms();
  CUdevResource groups[2]{};
  CUdevResource rest{};
  unsigned n = 2;
  CK(split(groups, &n, &dev, &rest, 16));
  // A descriptor of one resource, or of several outputs of one split.
  CUdevResourceDesc one = nullptr, two = nullptr, bad = nullptr;
  CK(D(cuDevResourceGenerateDesc)(&one, groups, 1));
  CUdevResource pair[2] = {groups[1], rest};
  CK(D(cuDevResourceGenerateDesc)(&two, pair, 2));
  CUdevResource other{};
  n = 1;
  CK(split(&other, &n, &dev, nullptr, 8));
  CUdevResource mixed[2] = {groups[0], other};
  EXPECT_EQ(D(cuDevResourceGenerateDesc)(&bad, mixed, 2), CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION);
  CUdevResource twice[2] = {groups[0], groups[0]};
  EXPECT_EQ(D(cuDevResourceGenerateDesc)(&bad, twice, 2), CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION);
  CUdevResource wholes[2] = {dev, dev};
  EXPECT_EQ(D(cuDevResourceGenerateDesc)(&bad, wholes, 2), CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION);
  EXPECT_EQ(D(cuDevResourceGenerateDesc)(&bad, groups, 0), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(D(cuDevResourceGenerateDesc)(nullptr, groups, 1), CUDA_ERROR_INVALID_VALUE);

  CUgreenCtx g = nullptr, g2 = nullptr;
  EXPECT_EQ(D(cuGreenCtxCreate)(&g, one, 0, 0), CUDA_ERROR_INVALID_VALUE);  // CU_GREEN_CTX_DEFAULT_STREAM is required
  EXPECT_EQ(D(cuGreenCtxCreate)(&g, one, 1, CU_GREEN_CTX_DEFAULT_STREAM), CUDA_ERROR_INVALID_DEVICE);
  EXPECT_EQ(D(cuGreenCtxCreate)(&g, reinterpret_cast<CUdevResourceDesc>(&rest), 0, CU_GREEN_CTX_DEFAULT_STREAM),
            CUDA_ERROR_INVALID_VALUE);
  CK(D(cuGreenCtxCreate)(&g, one, 0, CU_GREEN_CTX_DEFAULT_STREAM));
  CK(D(cuGreenCtxCreate)(&g2, two, 0, CU_GREEN_CTX_DEFAULT_STREAM));
  CUcontext cur = nullptr;
  CK(D(cuCtxGetCurrent)(&cur));
  EXPECT_EQ(cur, g_ctx);  // not made current

  // A context of its own, on the primary context's device.
  const CUcontext gc = ctx_of(g);
  ASSERT_NE(gc, nullptr);
  EXPECT_NE(gc, g_ctx);
  EXPECT_NE(static_cast<void*>(gc), static_cast<void*>(g));
  const unsigned long long gid = ctx_id(gc);
  EXPECT_NE(gid, ctx_id(g_ctx));
  EXPECT_NE(gid, ctx_id(ctx_of(g2)));
  unsigned long long id = 0;
  CK(D(cuGreenCtxGetId)(g, &id));
  EXPECT_EQ(id, gid);
  EXPECT_EQ(D(cuGreenCtxGetId)(nullptr, &id), CUDA_ERROR_INVALID_CONTEXT);  // the current context is not green
  CUdevice d = -1;
  CK(D(cuCtxGetDevice_v2)(&d, gc));
  EXPECT_EQ(d, 0);

  // Its SMs, through every way of asking.
  CUdevResource res{};
  CK(D(cuGreenCtxGetDevResource)(g, &res, CU_DEV_RESOURCE_TYPE_SM));
  EXPECT_EQ(res.sm.smCount, 16u);
  CK(D(cuCtxGetDevResource)(gc, &res, CU_DEV_RESOURCE_TYPE_SM));
  EXPECT_EQ(res.sm.smCount, 16u);
  EXPECT_EQ(D(cuGreenCtxGetDevResource)(g, &res, CU_DEV_RESOURCE_TYPE_INVALID), CUDA_ERROR_INVALID_RESOURCE_TYPE);
  CUdevResource g2res{};
  CK(D(cuGreenCtxGetDevResource)(g2, &g2res, CU_DEV_RESOURCE_TYPE_SM));
  EXPECT_EQ(g2res.sm.smCount, 116u);  // a group of 16 and the 100 that remained
  CK(D(cuCtxGetDevResource)(g_ctx, &res, CU_DEV_RESOURCE_TYPE_SM));
  EXPECT_EQ(res.sm.smCount, 132u);
  EXPECT_EQ(g_api.ctx_sm_count(gid), 16u);
  EXPECT_EQ(g_api.ctx_sm_count(ctx_id(ctx_of(g2))), 116u);
  EXPECT_EQ(g_api.ctx_sm_count(ctx_id(g_ctx)), 132u);
  EXPECT_EQ(g_api.ctx_sm_count(0), 0u);
  // A green context's resource can be split in turn.
  CK(D(cuGreenCtxGetDevResource)(g, &res, CU_DEV_RESOURCE_TYPE_SM));
  n = 0;
  CK(split(nullptr, &n, &res, nullptr, 8));
  EXPECT_EQ(n, 2u);

  // Made current through its CUcontext.
  CK(D(cuCtxPushCurrent_v2)(gc));
  CK(D(cuGreenCtxGetId)(nullptr, &id));
  EXPECT_EQ(id, gid);
  CK(D(cuCtxGetDevResource)(nullptr, &res, CU_DEV_RESOURCE_TYPE_SM));
  EXPECT_EQ(res.sm.smCount, 16u);
  CK(D(cuCtxPopCurrent_v2)(nullptr));

  // Destroyed by cuGreenCtxDestroy only; it waits for the context's work. A
  // stream left behind stays a handle that answers CUDA_ERROR_CONTEXT_IS_DESTROYED.
  EXPECT_EQ(D(cuCtxDestroy_v2)(gc), CUDA_ERROR_INVALID_CONTEXT);
  CUstream left = mkgreenstream(g2);
  CK(sleep_on(left, 30000));
  const int live = g_api.live_streams();
  CK(D(cuGreenCtxDestroy)(g2));
  EXPECT_NE(find_op(log_entries(), "fake_kernel_sleep", 30000).end_ns, 0u);
  EXPECT_EQ(D(cuStreamQuery)(left), CUDA_ERROR_CONTEXT_IS_DESTROYED);
  EXPECT_EQ(D(cuStreamDestroy_v2)(left), CUDA_ERROR_CONTEXT_IS_DESTROYED);
  EXPECT_EQ(g_api.live_streams(), live);  // leaked, as cuda.h warns
  EXPECT_EQ(D(cuGreenCtxDestroy)(g2), CUDA_ERROR_CONTEXT_IS_DESTROYED);
  CUcontext dead = nullptr;
  EXPECT_EQ(D(cuCtxFromGreenCtx)(&dead, g2), CUDA_ERROR_CONTEXT_IS_DESTROYED);
  EXPECT_EQ(D(cuGreenCtxDestroy)(nullptr), CUDA_ERROR_INVALID_CONTEXT);
  EXPECT_EQ(D(cuGreenCtxDestroy)(reinterpret_cast<CUgreenCtx>(g_ctx)), CUDA_ERROR_INVALID_CONTEXT);
  EXPECT_EQ(D(cuCtxFromGreenCtx)(nullptr, g), CUDA_ERROR_INVALID_VALUE);
  CK(D(cuGreenCtxDestroy)(g));
}

TEST_F(FakeCuda, GreenStreamTakesPrimaryContextWork) {
  const CUgreenCtx g = mkgreen(16);
  const CUcontext gc = ctx_of(g);
  CUstream bad = nullptr;
  EXPECT_EQ(D(cuGreenCtxStreamCreate)(&bad, g, 0, 0), CUDA_ERROR_INVALID_VALUE);  // must be non-blocking
  EXPECT_EQ(D(cuGreenCtxStreamCreate)(nullptr, g, CU_STREAM_NON_BLOCKING, 0), CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(D(cuGreenCtxStreamCreate)(&bad, nullptr, CU_STREAM_NON_BLOCKING, 0), CUDA_ERROR_INVALID_CONTEXT);
  const CUstream s = mkgreenstream(g, -2), hi = mkgreenstream(g, -100);
  int p = 1;
  CK(D(cuStreamGetPriority)(s, &p));
  EXPECT_EQ(p, -2);
  CK(D(cuStreamGetPriority)(hi, &p));
  EXPECT_EQ(p, -5);  // clamped
  unsigned flags = 0;
  CK(D(cuStreamGetFlags)(s, &flags));
  EXPECT_EQ(flags, static_cast<unsigned>(CU_STREAM_NON_BLOCKING));

  // Its contexts: the green context's CUcontext; for _v2 the primary context and the green context.
  CUcontext c = nullptr;
  CK(D(cuStreamGetCtx)(s, &c));
  EXPECT_EQ(c, gc);
  CUgreenCtx gr = nullptr;
  CK(D(cuStreamGetCtx_v2)(s, &c, &gr));
  EXPECT_EQ(c, g_ctx);
  EXPECT_EQ(gr, g);
  EXPECT_EQ(green_of(s), g);
  EXPECT_EQ(green_of(nullptr), nullptr);  // the primary context's legacy stream
  CUdevice dev = -1;
  CK(D(cuStreamGetDevice)(s, &dev));
  EXPECT_EQ(dev, 0);

  // With the primary context current: kernels (the primary context's
  // CUfunctions), a memset, copies, a host function, a gate, an event record.
  CUdeviceptr x = dalloc(4);
  CUevent e = mkevent();
  CallbackLog cl;
  {
    Gate gate;
    gate.hold(s);
    CK(add(s, x, 5));
    CK(D(cuMemsetD32Async)(x + 4, 7, 1, s));
    CK(D(cuMemcpyDtoDAsync_v2)(x + 8, x, sizeof(int), s));
    CK(D(cuLaunchHostFunc)(s, &host_fn, &cl));
    CK(D(cuEventRecord)(e, s));
    EXPECT_EQ(g_api.stream_pending(s), 6);
    EXPECT_EQ(D(cuEventQuery)(e), CUDA_ERROR_NOT_READY);
  }
  const int staged = 9;
  CK(D(cuMemcpyHtoDAsync_v2)(x + 12, &staged, sizeof staged, s));
  CK(D(cuStreamSynchronize)(s));
  int got[4] = {};
  CK(D(cuMemcpyDtoH_v2)(got, x, sizeof got));
  EXPECT_EQ(got[0], 5);
  EXPECT_EQ(got[1], 7);
  EXPECT_EQ(got[2], 5);
  EXPECT_EQ(got[3], 9);
  EXPECT_EQ(cl.items.size(), 1u);
  EXPECT_EQ(D(cuGraphLaunch)(nullptr, s), CUDA_ERROR_NOT_SUPPORTED);

  // Its work is logged under the green context's id, which has the green SM count.
  const unsigned long long gid = ctx_id(gc), pid = ctx_id(g_ctx);
  CK(add(nullptr, x, 1));
  CK(D(cuStreamSynchronize)(nullptr));
  const auto log = log_entries();
  const auto k = find_op(log, "fake_kernel_add", 5);
  EXPECT_EQ(k.ctx_id, gid);
  EXPECT_EQ(k.stream_id, stream_id(s));
  EXPECT_EQ(k.stream_kind, FAKE_STREAM_USER);
  EXPECT_EQ(g_api.ctx_sm_count(k.ctx_id), 16u);
  const auto primary = find_op(log, "fake_kernel_add", 1);
  EXPECT_EQ(primary.ctx_id, pid);
  EXPECT_NE(primary.ctx_id, k.ctx_id);
  EXPECT_EQ(g_api.ctx_sm_count(primary.ctx_id), 132u);
  int on_s = 0;
  for (const auto& entry : log) {
    if (entry.stream_id != stream_id(s)) continue;
    ++on_s;
    EXPECT_EQ(entry.ctx_id, gid) << entry.name;
  }
  EXPECT_EQ(on_s, 7);

  // With the green context current, ordinary stream calls make streams in it.
  CK(D(cuCtxPushCurrent_v2)(gc));
  CUstream q = nullptr;
  CK(D(cuStreamCreateWithPriority)(&q, 0, -4));
  CK(D(cuStreamGetPriority)(q, &p));
  EXPECT_EQ(p, -4);
  EXPECT_EQ(green_of(q), g);
  EXPECT_EQ(green_of(nullptr), g);  // the green context's legacy stream
  EXPECT_EQ(D(cuStreamGetCtx_v2)(CU_STREAM_PER_THREAD, &c, &gr), CUDA_ERROR_INVALID_HANDLE);
  CK(add(q, x, 100));
  CK(D(cuStreamSynchronize)(q));
  EXPECT_EQ(find_op(log_entries(), "fake_kernel_add", 100).ctx_id, gid);
  CK(D(cuStreamDestroy_v2)(q));
  CK(D(cuCtxPopCurrent_v2)(nullptr));

  CK(D(cuEventDestroy_v2)(e));
  CK(D(cuStreamDestroy_v2)(s));
  CK(D(cuStreamDestroy_v2)(hi));
  CK(D(cuMemFree_v2)(x));
  CK(D(cuGreenCtxDestroy)(g));
}

TEST_F(FakeCuda, GreenStreamIsOutsideThePrimaryContext) {
  const CUgreenCtx g = mkgreen(16);
  const CUstream s = mkgreenstream(g);
  CUdeviceptr x = dalloc();
  {
    // No implicit synchronisation with the primary context's legacy stream, either way.
    Gate gate;
    gate.hold(nullptr);
    CK(add(s, x, 1));
    CK(D(cuStreamSynchronize)(s));
    EXPECT_EQ(D(cuStreamQuery)(nullptr), CUDA_ERROR_NOT_READY);
  }
  CK(D(cuCtxSynchronize)());
  // cuCtxSynchronize of the primary context waits for it (as on the H100).
  CK(sleep_on(s, 30000));
  CK(D(cuCtxSynchronize)());
  EXPECT_EQ(D(cuStreamQuery)(s), CUDA_SUCCESS);
  // Synchronising the green context does.
  CK(sleep_on(s, 30000));
  CK(D(cuCtxSynchronize_v2)(ctx_of(g)));
  EXPECT_EQ(D(cuStreamQuery)(s), CUDA_SUCCESS);
  // cuMemFree of the primary context's memory waits for it (the memory is shared).
  CK(sleep_on(s, 80000));
  CK(add(s, x, 3));
  CK(D(cuMemFree_v2)(x));
  const unsigned long long freed = g_api.now_ns();
  const auto done = find_op(log_entries(), "fake_kernel_add", 3);
  EXPECT_NE(done.end_ns, 0u);
  EXPECT_LE(done.end_ns, freed);
  CK(D(cuStreamDestroy_v2)(s));
  CK(D(cuGreenCtxDestroy)(g));
}

TEST_F(FakeCuda, GreenCrossContextEvents) {
  const CUgreenCtx g = mkgreen(16);
  const CUstream s = mkgreenstream(g), s2 = mkgreenstream(g);
  const CUstream b = mkstream(CU_STREAM_NON_BLOCKING);  // in the primary context
  CUdeviceptr order = dalloc(8), cursor = dalloc();
  CUevent e = mkevent();  // in the primary context

  // Recorded on the green stream, waited on by a primary-context stream.
  CK(sleep_on(s, 100000));
  CK(append(s, order, cursor, 1));
  CK(D(cuEventRecord)(e, s));
  CK(D(cuStreamWaitEvent)(b, e, 0));
  CK(append(b, order, cursor, 2));
  CK(D(cuStreamSynchronize)(b));
  EXPECT_EQ(D(cuStreamQuery)(s), CUDA_SUCCESS);
  // And the other way round.
  {
    Gate gate;
    gate.hold(b);
    CK(append(b, order, cursor, 3));
    CK(D(cuEventRecord)(e, b));
    CK(D(cuStreamWaitEvent)(s, e, 0));
    CK(append(s, order, cursor, 4));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(D(cuStreamQuery)(s), CUDA_ERROR_NOT_READY);
  }
  CK(D(cuStreamSynchronize)(s));

  // cuGreenCtxRecordEvent captures the work of all the green context's streams.
  CK(sleep_on(s, 60000));
  CK(sleep_on(s2, 80000));
  CK(D(cuGreenCtxRecordEvent)(g, e));
  CK(D(cuStreamWaitEvent)(b, e, 0));
  CK(append(b, order, cursor, 5));
  CK(D(cuStreamSynchronize)(b));
  EXPECT_EQ(D(cuStreamQuery)(s2), CUDA_SUCCESS);
  auto log = log_entries();
  const auto after = find_op(log, "fake_kernel_append", 5);
  EXPECT_GE(after.start_ns, find_op(log, "fake_kernel_sleep", 60000).end_ns);
  EXPECT_GE(after.start_ns, find_op(log, "fake_kernel_sleep", 80000).end_ns);
  int got[5] = {};
  CK(D(cuStreamSynchronize)(s));
  CK(D(cuMemcpyDtoH_v2)(got, order, sizeof got));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(got[i], i + 1);

  // cuGreenCtxWaitEvent holds up all later work of the green context, on
  // streams made afterwards too, and nothing of the primary context.
  CUdeviceptr y = dalloc(3);
  {
    Gate gate;
    gate.hold(b);
    CK(D(cuEventRecord)(e, b));
    CK(D(cuGreenCtxWaitEvent)(g, e));
    const CUstream late = mkgreenstream(g);
    CK(add(s2, y, 1));
    CK(add(late, y + 4, 1));
    CK(add(CU_STREAM_PER_THREAD, y + 8, 1));
    CK(D(cuStreamSynchronize)(CU_STREAM_PER_THREAD));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(D(cuStreamQuery)(s2), CUDA_ERROR_NOT_READY);
    EXPECT_EQ(D(cuStreamQuery)(late), CUDA_ERROR_NOT_READY);
    gate.open();
    CK(D(cuStreamSynchronize)(late));
    CK(D(cuStreamDestroy_v2)(late));
  }
  CK(D(cuStreamSynchronize)(s2));
  int ys[3] = {};
  CK(D(cuMemcpyDtoH_v2)(ys, y, sizeof ys));
  EXPECT_EQ(ys[0], 1);
  EXPECT_EQ(ys[1], 1);
  EXPECT_EQ(ys[2], 1);

  // An event of an unrelated context cannot capture a green context.
  CUcontext c2 = nullptr;
  CK(D(cuCtxCreate_v2)(&c2, 0, 0));
  CUevent foreign = mkevent();
  CK(D(cuCtxPopCurrent_v2)(nullptr));
  EXPECT_EQ(D(cuGreenCtxRecordEvent)(g, foreign), CUDA_ERROR_INVALID_HANDLE);
  CK(D(cuCtxDestroy_v2)(c2));
  EXPECT_EQ(D(cuGreenCtxRecordEvent)(g, nullptr), CUDA_ERROR_INVALID_HANDLE);
  EXPECT_EQ(D(cuGreenCtxWaitEvent)(nullptr, e), CUDA_ERROR_INVALID_CONTEXT);

  CK(D(cuEventDestroy_v2)(e));
  for (CUstream st : {s, s2, b}) CK(D(cuStreamDestroy_v2)(st));
  for (CUdeviceptr p : {order, cursor, y}) CK(D(cuMemFree_v2)(p));
  CK(D(cuGreenCtxDestroy)(g));
}

TEST_F(FakeCuda, GreenContextsSwitchedOff) {
  g_api.set_green_supported(0);
  CUdevResource r{};
  unsigned n = 1;
  CUdevResourceDesc desc = nullptr;
  CUgreenCtx g = nullptr;
  CUcontext c = nullptr;
  CUstream s = nullptr;
  unsigned long long id = 0;
  EXPECT_EQ(D(cuDeviceGetDevResource)(0, &r, CU_DEV_RESOURCE_TYPE_SM), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuCtxGetDevResource)(g_ctx, &r, CU_DEV_RESOURCE_TYPE_SM), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(split(&r, &n, &r, nullptr, 8), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuDevResourceGenerateDesc)(&desc, &r, 1), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuGreenCtxCreate)(&g, desc, 0, CU_GREEN_CTX_DEFAULT_STREAM), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuGreenCtxDestroy)(g), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuCtxFromGreenCtx)(&c, g), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuGreenCtxGetId)(g, &id), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuGreenCtxGetDevResource)(g, &r, CU_DEV_RESOURCE_TYPE_SM), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuGreenCtxStreamCreate)(&s, g, CU_STREAM_NON_BLOCKING, 0), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuGreenCtxRecordEvent)(g, nullptr), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuGreenCtxWaitEvent)(g, nullptr), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(D(cuStreamGetGreenCtx)(nullptr, &g), CUDA_ERROR_NOT_SUPPORTED);
  // The rest of the driver is unaffected.
  int sms = 0;
  CK(D(cuDeviceGetAttribute)(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0));
  EXPECT_EQ(sms, 132);
  CK(D(cuStreamGetCtx_v2)(nullptr, &c, &g));
  EXPECT_EQ(c, g_ctx);
  EXPECT_EQ(g, nullptr);
  g_api.set_green_supported(1);
  CK(D(cuDeviceGetDevResource)(0, &r, CU_DEV_RESOURCE_TYPE_SM));
  EXPECT_EQ(r.sm.smCount, 132u);
}

}  // namespace
}  // namespace fake_cuda_selftest
