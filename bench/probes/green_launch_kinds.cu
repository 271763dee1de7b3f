// Green-context probe: which launches a green-context stream accepts while the
// device's PRIMARY context is current (as in a PyTorch process), whether the
// work really stays on the green context's SMs, what a reserve of SMs costs in
// throughput, and how fast an urgent kernel on an ordinary high-priority stream
// starts while a green context of (SMs - R) SMs is kept full.
//
// Build (from the repository root):
//   nvcc -O2 -arch=sm_90 -std=c++17 -o green_launch_kinds bench/probes/green_launch_kinds.cu -lcuda -lcublas
// Run:
//   ./green_launch_kinds [OUT.json | OUT_DIR]     (default: ./green_launch_kinds.json)
// Sections: 1 SM split granularity, 2 launch kinds (a..l), 3 throughput with a
// reserve, 4 urgent-kernel latency with a reserve. Every wait is bounded; a
// watchdog writes partial JSON and exits (code 3) after 170 s. Exit 77: no GPU.
#include <cublas_v2.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <set>

#include "green_probe_util.h"

// ----------------------------------------------------------------- globals --
static cublasHandle_t g_blas = nullptr;
static bool g_blas_green_ok = false;
static const int kN = 4096;
static float *g_A, *g_B, *g_C1, *g_C2;

static std::string gemm(CUstream s, float* C) {
  const float one = 1.f, zero = 0.f;
  cublasStatus_t st = cublasSetStream(g_blas, (cudaStream_t)s);
  if (st == CUBLAS_STATUS_SUCCESS)
    st = cublasSgemm(g_blas, CUBLAS_OP_N, CUBLAS_OP_N, kN, kN, kN, &one, g_A, kN, g_B, kN, &zero, C, kN);
  return st == CUBLAS_STATUS_SUCCESS ? "CUDA_SUCCESS" : cublasGetStatusName(st);
}
// Seconds for `reps` gemms on s after one warm-up (NAN and *err on failure).
static double time_gemm(CUstream s, float* C, int reps, std::string* err) {
  std::string l = gemm(s, C), w = OK(l) ? wait_stream(s, 20) : l;
  if (!OK(w)) { *err = w; return NAN; }
  double t0 = now_s();
  for (int i = 0; i < reps && OK(l); ++i) l = gemm(s, C);
  w = OK(l) ? wait_stream(s, 60) : l;
  *err = w;
  return OK(w) ? now_s() - t0 : NAN;
}

// ------------------------------------------------------ part 1: SM splits --
static void part1() {
  printf("\n== 1. cuDevSmResourceSplitByCount(nbGroups=1, minCount=1..%u) ==\n", g_sms);
  for (unsigned fl : {0u, (unsigned)CU_DEV_SM_RESOURCE_SPLIT_IGNORE_SM_COSCHEDULING}) {
    const char* fname = fl ? "IGNORE_SM_COSCHEDULING" : "0";
    printf(" flags=%s\n", fname);
    std::string arr = "[";
    std::string prev;
    unsigned lo = 1;
    auto flush = [&](unsigned hi, const std::string& o) {
      printf("   minCount %3u..%-3u -> %s\n", lo, hi, o.c_str());
      arr += (arr.size() > 1 ? ", " : "") + JObj().add("min_lo", jnum(lo)).add("min_hi", jnum(hi)).add("outcome", jstr(o)).str();
    };
    for (unsigned m = 1; m <= g_sms; ++m) {
      CUdevResource res = {}, rem = {};
      unsigned nb = 1;
      CUresult r = cuDevSmResourceSplitByCount(&res, &nb, &g_devres, &rem, fl, m);
      char b[160];
      if (r == CUDA_SUCCESS)
        snprintf(b, sizeof b, "groups=%u smCount=%u remaining=%u", nb, nb ? res.sm.smCount : 0,
                 rem.type == CU_DEV_RESOURCE_TYPE_SM ? rem.sm.smCount : 0);
      else
        snprintf(b, sizeof b, "%s", cuname(r).c_str());
      if (m > 1 && b != prev) { flush(m - 1, prev); lo = m; }
      prev = b;
    }
    flush(g_sms, prev);
    jput("split", std::string("flags_") + fname, arr + "]");
  }
}

// ---------------------------------------------------- part 2: launch kinds --
static const int NB = 1024;
static const unsigned long long SPIN = 20000;  // ns per block
static CUdeviceptr d_sm, d_aux, d_flag;       // smid buffer (4*NB words), aux (4*NB), flags (256)
static unsigned* h_map;                        // host-mapped words
static CUdeviceptr dh_map;

// Run fn (a launch), wait on s, read n smids back and compare with `expect` SMs.
static bool smid_kind(const char* key, const char* desc, CUstream s, unsigned expect, int n,
                      const std::function<std::string()>& fn) {
  cuMemsetD32(d_sm, 0xFFFFFFFFu, n);
  std::string l = fn();
  std::string w = OK(l) ? wait_stream(s, 10) : "not_run";
  std::vector<unsigned> h(n);
  cuMemcpyDtoH(h.data(), d_sm, n * 4);
  std::set<unsigned> ids;
  int done = 0;
  for (unsigned v : h)
    if (v != 0xFFFFFFFFu) { ++done; ids.insert(v); }
  bool conf = OK(l) && OK(w) && done == n && ids.size() <= expect;
  printf("  %-5s %-56s launch=%-26s sync=%-12s blocks=%4d/%-4d SMs=%3zu/%-3u %s\n", key, desc, l.c_str(), w.c_str(),
         done, n, ids.size(), expect, OK(l) && OK(w) && done == n ? (conf ? "CONFINED" : "NOT-CONFINED") : "FAILED");
  jput("launch_kinds", key,
       JObj().add("what", jstr(desc)).add("launch", jstr(l)).add("sync", jstr(w)).add("blocks_done", jnum(done))
           .add("blocks", jnum(n)).add("distinct_sms", jnum(ids.size())).add("expected_max_sms", jnum(expect))
           .add("confined", jbool(conf)).add("sm_ids", jarr(std::vector<unsigned>(ids.begin(), ids.end()))).str());
  return conf;
}

static std::string capture3(CUstream cs, CUgraphExec* ex) {
  CUresult r = cuStreamBeginCapture(cs, CU_STREAM_CAPTURE_MODE_RELAXED);
  if (r != CUDA_SUCCESS) return "BeginCapture:" + cuname(r);
  std::string l = "CUDA_SUCCESS";
  for (int i = 0; i < 3 && OK(l); ++i) l = launch(k_smid, NB, 128, cs, (unsigned*)d_sm + i * NB, SPIN);
  CUgraph g = nullptr;
  r = cuStreamEndCapture(cs, &g);
  if (!OK(l)) return "capture_launch:" + l;
  if (r != CUDA_SUCCESS) return "EndCapture:" + cuname(r);
  r = cuGraphInstantiate(ex, g, 0);
  cuGraphDestroy(g);
  return r == CUDA_SUCCESS ? "CUDA_SUCCESS" : "Instantiate:" + cuname(r);
}

// Time a 200 ms spin on gs against a sync call `fn`.
static void sync_probe(const char* key, const char* desc, CUstream gs, const std::function<std::string()>& fn) {
  cuMemsetD32(d_flag + 60 * 4, 0, 2);
  std::string l = launch(k_mark, 1, 32, gs, 200000000ull, (unsigned*)d_flag + 60, 1u);
  double t0 = now_s();
  std::string r = OK(l) ? fn() : "not_run";
  double dt = now_s() - t0;
  CUresult q = cuStreamQuery(gs);
  bool waited = OK(r) && dt > 0.15 && q == CUDA_SUCCESS;
  printf("  %-5s %-56s launch=%s call=%s took %.1f ms, green work %s -> %s\n", key, desc, l.c_str(), r.c_str(), dt * 1e3,
         q == CUDA_SUCCESS ? "done" : "still running", waited ? "WAITS for green stream" : "does NOT wait");
  jput("launch_kinds", key, JObj().add("what", jstr(desc)).add("launch", jstr(l)).add("call", jstr(r)).add("ms", jnum(dt * 1e3))
           .add("green_done_after", jbool(q == CUDA_SUCCESS)).add("waits_for_green", jbool(waited)).str());
  wait_stream(gs, 5);
}

// Ordering: 100 ms k_mark on `first` sets a flag; `second` waits on an event recorded on `first`, then reads it.
static void order_probe(const char* key, const char* desc, CUstream first, CUstream second, CUevent ev) {
  cuMemsetD32(d_flag, 0, 2);
  std::string l1 = launch(k_mark, 1, 32, first, 100000000ull, (unsigned*)d_flag, 1u);
  std::string rec = cuname(cuEventRecord(ev, first));
  std::string wt = cuname(cuStreamWaitEvent(second, ev, 0));
  std::string l2 = launch(k_check, 1, 1, second, (const unsigned*)d_flag, (unsigned*)d_flag + 1);
  std::string w = wait_stream(second, 5), w1 = wait_stream(first, 5);
  unsigned h[2] = {9, 9};
  cuMemcpyDtoH(h, d_flag, 8);
  bool ordered = OK(l1) && OK(rec) && OK(wt) && OK(l2) && OK(w) && h[1] == 1;
  printf("  %-5s %-56s launch=%s record=%s wait=%s 2nd=%s sync=%s/%s saw flag=%u -> %s\n", key, desc, l1.c_str(), rec.c_str(),
         wt.c_str(), l2.c_str(), w.c_str(), w1.c_str(), h[1], ordered ? "ORDERED" : "NOT ordered");
  jput("launch_kinds", key, JObj().add("what", jstr(desc)).add("launch_first", jstr(l1)).add("event_record", jstr(rec))
           .add("stream_wait_event", jstr(wt)).add("launch_second", jstr(l2)).add("sync", jstr(w))
           .add("flag_seen", jnum(h[1])).add("ordered", jbool(ordered)).str());
}

static void part2() {
  Green G = make_green(g_sms - 16, 0);
  printf("\n== 2. launch kinds on a green-context stream (primary context current) ==\n");
  printf(" green ctx: target %u SMs -> %u SMs (split flags %u), create=%s\n", g_sms - 16, G.sms, G.split_flags, G.err.c_str());
  jput("launch_kinds", "green_ctx", JObj().add("target_sms", jnum(g_sms - 16)).add("sms", jnum(G.sms))
           .add("split_flags", jnum(G.split_flags)).add("create", jstr(G.err)).str());
  if (!G.s) return;
  CUstream gs = G.s;
  const unsigned E = G.sms;
  unsigned* out = (unsigned*)d_sm;
  unsigned long long spin = SPIN;
  void* args[] = {&out, &spin};

  smid_kind("ref", "runtime <<<>>> on an ordinary stream (full device)", g_ps, g_sms, NB, [&] {
    k_smid<<<NB, 128, 0, (cudaStream_t)g_ps>>>(out, SPIN);
    return rtname(cudaGetLastError());
  });
  bool a = smid_kind("a", "runtime <<<>>> on green stream", gs, E, NB, [&] {
    k_smid<<<NB, 128, 0, (cudaStream_t)gs>>>(out, SPIN);
    return rtname(cudaGetLastError());
  });
  smid_kind("a_gc", "runtime <<<>>> on green stream, green ctx made current", gs, E, NB, [&] {
    cuCtxSetCurrent(G.c);
    k_smid<<<NB, 128, 0, (cudaStream_t)gs>>>(out, SPIN);
    std::string r = rtname(cudaGetLastError());
    cuCtxSetCurrent(g_primary);
    return r;
  });
  CUmodule mod = nullptr;
  CUfunction fmod = nullptr;
  std::string ml = cuname(cuModuleLoadData(&mod, kPtx));
  if (OK(ml)) ml = cuname(cuModuleGetFunction(&fmod, mod, "smid_ptx"));
  smid_kind("b1", "cuLaunchKernel, cuModuleLoadData(PTX) fn loaded in primary", gs, E, NB, [&] {
    return fmod ? cuname(cuLaunchKernel(fmod, NB, 1, 1, 128, 1, 1, 0, gs, args, nullptr)) : "load:" + ml;
  });
  smid_kind("b2", "cuLaunchKernel, cudaGetFuncBySymbol(runtime kernel)", gs, E, NB, [&] {
    cudaFunction_t f;
    cudaError_t e = cudaGetFuncBySymbol(&f, (const void*)k_smid);
    return e ? "GetFuncBySymbol:" + rtname(e) : cuname(cuLaunchKernel((CUfunction)f, NB, 1, 1, 128, 1, 1, 0, gs, args, nullptr));
  });
  bool c1 = smid_kind("c1", "cuLaunchKernel, (CUfunction)CUkernel from cudaGetKernel", gs, E, NB, [&] {
    cudaKernel_t k;
    cudaError_t e = cudaGetKernel(&k, (const void*)k_smid);
    return e ? "GetKernel:" + rtname(e) : cuname(cuLaunchKernel((CUfunction)k, NB, 1, 1, 128, 1, 1, 0, gs, args, nullptr));
  });
  CUlibrary lib = nullptr;
  CUkernel lk = nullptr;
  std::string ll = cuname(cuLibraryLoadData(&lib, kPtx, nullptr, nullptr, 0, nullptr, nullptr, 0));
  if (OK(ll)) ll = cuname(cuLibraryGetKernel(&lk, lib, "smid_ptx"));
  smid_kind("c2", "cuLaunchKernel, (CUfunction)CUkernel from cuLibraryLoadData", gs, E, NB, [&] {
    return lk ? cuname(cuLaunchKernel((CUfunction)lk, NB, 1, 1, 128, 1, 1, 0, gs, args, nullptr)) : "load:" + ll;
  });
  smid_kind("d", "cuLaunchKernelEx, config.hStream = green stream", gs, E, NB, [&] {
    CUlaunchConfig cfg = {};
    cfg.gridDimX = NB; cfg.gridDimY = cfg.gridDimZ = 1;
    cfg.blockDimX = 128; cfg.blockDimY = cfg.blockDimZ = 1;
    cfg.hStream = gs;
    return fmod ? cuname(cuLaunchKernelEx(&cfg, fmod, args, nullptr)) : "load:" + ml;
  });
  g_launch_mode = (!a && c1) ? 1 : 0;
  printf("  (later green-stream launches use %s)\n", g_launch_mode ? "cuLaunchKernel(cudaGetKernel)" : "the runtime");
  jput("launch_kinds", "later_launch_path", jstr(g_launch_mode ? "cuLaunchKernel(cudaGetKernel)" : "runtime"));

  // f. graphs
  CUgraphExec ex1 = nullptr, ex2 = nullptr;
  std::string c = capture3(g_ps, &ex1);
  smid_kind("f1", "graph captured on ordinary stream, cuGraphLaunch(green)", gs, E, 3 * NB,
            [&] { return OK(c) ? cuname(cuGraphLaunch(ex1, gs)) : c; });
  c = capture3(gs, &ex2);
  smid_kind("f2", "graph captured on green stream, cuGraphLaunch(ordinary)", g_ps, E, 3 * NB,
            [&] { return OK(c) ? cuname(cuGraphLaunch(ex2, g_ps)) : c; });

  // g. memset / memcpy
  {
    cuMemsetD32(d_aux, 0, 4 * NB);
    std::string r1 = cuname(cuMemsetD32Async(d_sm, 0x12345678u, 4 * NB, gs));
    std::string r2 = cuname(cuMemcpyDtoDAsync(d_aux, d_sm, 16 * NB, gs));
    std::string w = wait_stream(gs, 5);
    std::vector<unsigned> h(4 * NB);
    cuMemcpyDtoH(h.data(), d_aux, 16 * NB);
    bool ok = std::all_of(h.begin(), h.end(), [](unsigned v) { return v == 0x12345678u; });
    printf("  g     cuMemsetD32Async + cuMemcpyDtoDAsync on green stream: memset=%s memcpy=%s sync=%s data %s\n", r1.c_str(),
           r2.c_str(), w.c_str(), ok ? "CORRECT" : "WRONG");
    jput("launch_kinds", "g", JObj().add("memset", jstr(r1)).add("memcpy", jstr(r2)).add("sync", jstr(w)).add("data_ok", jbool(ok)).str());
  }
  // h. stream wait value gate on a host-mapped word
  {
    volatile unsigned* gate = h_map;
    volatile unsigned* mark = h_map + 1;
    *gate = 0; *mark = 0;
    std::string r = cuname(cuStreamWaitValue32(gs, dh_map, 1, CU_STREAM_WAIT_VALUE_GEQ));
    std::string l = launch(k_mark, 1, 32, gs, 0ull, (unsigned*)(dh_map + 4), 7u);
    sleep_us(50000);
    CUresult q = cuStreamQuery(gs);
    unsigned before = *mark;
    __sync_synchronize();
    *gate = 1;
    __sync_synchronize();
    std::string w = wait_stream(gs, 5);
    unsigned after = *mark;
    bool held = q == CUDA_ERROR_NOT_READY && before == 0, ok = OK(r) && OK(l) && held && OK(w) && after == 7;
    printf("  h     cuStreamWaitValue32 gate on green stream: wait=%s launch=%s before release: %s mark=%u; after: sync=%s mark=%u -> %s\n",
           r.c_str(), l.c_str(), cuname(q).c_str(), before, w.c_str(), after, ok ? "GATE WORKS" : "GATE FAILED");
    jput("launch_kinds", "h", JObj().add("wait_value", jstr(r)).add("launch", jstr(l)).add("held_before_release", jbool(held))
             .add("sync", jstr(w)).add("ran_after_release", jbool(after == 7)).add("works", jbool(ok)).str());
  }
  // i. cross-context event ordering (event created with the primary current)
  {
    CUevent ev;
    cuEventCreate(&ev, CU_EVENT_DISABLE_TIMING);
    order_probe("i1", "event recorded on green, ordinary stream waits", gs, g_ps, ev);
    order_probe("i2", "event recorded on ordinary, green stream waits", g_ps, gs, ev);
    // j. who waits for the green stream
    sync_probe("j1", "cuCtxSynchronize() with primary current", gs, [] { return cuname(cuCtxSynchronize()); });
    sync_probe("j2", "cudaDeviceSynchronize()", gs, [] { return rtname(cudaDeviceSynchronize()); });
    sync_probe("j3", "k_check<<<1,1>>> on stream 0 + cudaStreamSynchronize(0)", gs, [] {
      k_check<<<1, 1>>>((unsigned*)d_flag + 60, (unsigned*)d_flag + 61);
      cudaError_t e = cudaGetLastError();
      return e ? rtname(e) : rtname(cudaStreamSynchronize(0));
    });
    unsigned seen = 9;
    cuMemcpyDtoH(&seen, d_flag + 61 * 4, 4);
    printf("        the stream-0 kernel %s\n", seen == 1 ? "ran after the green kernel ended" : "ran while the green kernel was running");
    jput("launch_kinds", "j3_legacy_kernel_ran_after_green", jbool(seen == 1));
    sync_probe("j4", "cuCtxSynchronize() with the green ctx current", gs, [&] {
      cuCtxSetCurrent(G.c);
      std::string r = cuname(cuCtxSynchronize());
      cuCtxSetCurrent(g_primary);
      return r;
    });
    sync_probe("j5", "cuCtxRecordEvent(primary, ev) + poll cuEventQuery", gs, [&] {
      CUresult r = cuCtxRecordEvent(g_primary, ev);
      return r ? cuname(r) : wait_event(ev, 5);
    });
    cuEventDestroy(ev);
  }
  // k. stream -> context
  {
    CUcontext c1x = nullptr, c2x = nullptr;
    CUgreenCtx g2 = nullptr;
    std::string r1 = cuname(cuStreamGetCtx(gs, &c1x)), r2 = cuname(cuStreamGetCtx_v2(gs, &c2x, &g2));
    auto nm = [&](CUcontext x) { return x == G.c ? "green ctx (cuCtxFromGreenCtx)" : x == g_primary ? "primary" : x ? "other" : "null"; };
    printf("  k     cuStreamGetCtx(green)=%s -> %s; cuStreamGetCtx_v2=%s -> ctx %s, greenCtx %s\n", r1.c_str(), nm(c1x), r2.c_str(),
           nm(c2x), g2 == G.g ? "= this green ctx" : g2 ? "other" : "null");
    jput("launch_kinds", "k", JObj().add("getctx", jstr(r1)).add("getctx_returns", jstr(nm(c1x))).add("getctx_v2", jstr(r2))
             .add("getctx_v2_ctx", jstr(nm(c2x))).add("getctx_v2_green_is_this", jbool(g2 == G.g)).str());
  }
  // l. cooperative launch, one block per green SM
  {
    cudaKernel_t k;
    std::string ge = rtname(cudaGetKernel(&k, (const void*)k_coop));
    unsigned* o2 = (unsigned*)d_aux;
    cuMemsetD32(d_aux, 0, E);
    void* cargs[] = {&out, &o2};
    smid_kind("l", "cuLaunchCooperativeKernel, grid = green SM count", gs, E, (int)E, [&] {
      return OK(ge) ? cuname(cuLaunchCooperativeKernel((CUfunction)k, E, 1, 1, 128, 1, 1, 0, gs, cargs)) : ge;
    });
    std::vector<unsigned> h(E);
    cuMemcpyDtoH(h.data(), d_aux, E * 4);
    size_t passed = std::count(h.begin(), h.end(), 1u);
    printf("        grid.sync passed by %zu/%u blocks\n", passed, E);
    jput("launch_kinds", "l_grid_sync_passed", jnum(passed));
  }
  // e. cuBLAS
  {
    std::string ef, eg;
    double tf = time_gemm(g_ps, g_C1, 10, &ef), tg = time_gemm(gs, g_C2, 10, &eg);
    double md = NAN;
    bool same = false;
    if (OK(ef) && OK(eg)) {
      std::vector<float> h1((size_t)kN * kN), h2((size_t)kN * kN);
      cudaMemcpy(h1.data(), g_C1, h1.size() * 4, cudaMemcpyDeviceToHost);
      cudaMemcpy(h2.data(), g_C2, h2.size() * 4, cudaMemcpyDeviceToHost);
      md = 0;
      for (size_t i = 0; i < h1.size(); ++i) md = std::max(md, (double)std::fabs(h1[i] - h2[i]));
      same = memcmp(h1.data(), h2.data(), h1.size() * 4) == 0;
    }
    g_blas_green_ok = OK(eg);
    printf("  e     cuBLAS sgemm %d^3 x10: full %s %.2f ms, green %s %.2f ms, ratio %.3f (SM ratio %.3f), max|diff| %.3g%s\n", kN,
           ef.c_str(), tf * 1e3, eg.c_str(), tg * 1e3, tg / tf, (double)g_sms / E, md, same ? " (bitwise equal)" : "");
    jput("launch_kinds", "e", JObj().add("full_status", jstr(ef)).add("green_status", jstr(eg)).add("full_ms", jnum(tf * 1e3))
             .add("green_ms", jnum(tg * 1e3)).add("time_ratio", jnum(tg / tf)).add("sm_ratio", jnum((double)g_sms / E))
             .add("max_abs_diff", jnum(md)).add("bitwise_equal", jbool(same)).str());
    cublasSetStream(g_blas, (cudaStream_t)g_ps);
  }
  if (ex1) cuGraphExecDestroy(ex1);
  if (ex2) cuGraphExecDestroy(ex2);
  if (mod) cuModuleUnload(mod);
  if (lib) cuLibraryUnload(lib);
  destroy_green(G);
}

// ------------------------------------------------- part 3: reserve throughput --
static void part3() {
  printf("\n== 3. throughput with a reserve: 200 x k_fma (%u blocks x 256), 50 x k_fma (%u blocks), 30 x sgemm %d ==\n",
         g_sms * 4, g_sms * 32, kN);
  double base[3] = {NAN, NAN, NAN};
  // Seconds for n k_fma of `grid` blocks after one warm-up; *st gets the status.
  auto time_fma = [](CUstream s, unsigned grid, int n, std::string* st) {
    std::string l = launch(k_fma, grid, 256, s, (float*)d_aux, 3000), w = OK(l) ? wait_stream(s, 10) : l;
    double t0 = now_s();
    for (int i = 0; i < n && OK(l); ++i) l = launch(k_fma, grid, 256, s, (float*)d_aux, 3000);
    *st = w = OK(l) ? wait_stream(s, 30) : l;
    return OK(w) ? now_s() - t0 : NAN;
  };
  for (unsigned target : {g_sms, g_sms - 8, g_sms - 16, g_sms - 24, g_sms - 32}) {
    Green G;
    CUstream s = g_ps;
    unsigned sms = g_sms;
    if (target < g_sms) {
      G = make_green(target, 0);
      if (!G.s) { printf("  target %u: green ctx failed: %s\n", target, G.err.c_str()); continue; }
      s = G.s;
      sms = G.sms;
    }
    std::string w, wb, ge = "skipped";
    double t[3] = {time_fma(s, g_sms * 4, 200, &w), time_fma(s, g_sms * 32, 50, &wb),
                   (target == g_sms || g_blas_green_ok) ? time_gemm(s, g_C2, 30, &ge) : NAN};
    if (target == g_sms) std::copy(t, t + 3, base);
    printf("  %3u SMs: fma %s %.1f us/kernel ratio %.3f | big fma %s ratio %.3f | sgemm %s %.2f ms ratio %.3f | SM ratio %.3f\n", sms,
           w.c_str(), t[0] * 1e6 / 200, t[0] / base[0], wb.c_str(), t[1] / base[1], ge.c_str(), t[2] * 1e3 / 30, t[2] / base[2],
           (double)g_sms / sms);
    jput("throughput", "sms_" + std::to_string(sms),
         JObj().add("target", jnum(target)).add("sms", jnum(sms)).add("fma_status", jstr(w)).add("fma_us_per_kernel", jnum(t[0] * 1e6 / 200))
             .add("fma_ratio", jnum(t[0] / base[0])).add("big_fma_status", jstr(wb)).add("big_fma_us_per_kernel", jnum(t[1] * 1e6 / 50))
             .add("big_fma_ratio", jnum(t[1] / base[1])).add("gemm_status", jstr(ge)).add("gemm_ms", jnum(t[2] * 1e3 / 30))
             .add("gemm_ratio", jnum(t[2] / base[2])).add("sm_ratio", jnum((double)g_sms / sms)).str());
    cublasSetStream(g_blas, (cudaStream_t)g_ps);
    destroy_green(G);
  }
}

// ----------------------------------------- part 4: urgent latency with a reserve --
struct Lat { double p50, p99, max, s50, s99, busy, drift; int n; std::string err; };

// One urgent launch on hs: host launch -> done (us) and GPU start - host realtime (ns).
static std::string urgent_probe(CUstream hs, unsigned long long* h_ts, unsigned long long* d_ts, double* host_us, long long* d) {
  *h_ts = 0;
  long long r0 = now_real_ns();
  double t0 = now_s();
  k_urgent<<<1, 32, 0, (cudaStream_t)hs>>>(d_ts);
  cudaError_t e = cudaGetLastError();
  std::string w = e ? rtname(e) : wait_stream(hs, 2, true);
  *host_us = (now_s() - t0) * 1e6;
  *d = (long long)*h_ts - r0;
  return w;
}
// Clock offset on the idle GPU: smallest (GPU start - host submit) over 30 probes.
static long long idle_offset(CUstream hs, unsigned long long* h_ts, unsigned long long* d_ts) {
  long long best = LLONG_MAX, d;
  double hu;
  for (int i = 0; i < 30; ++i) {
    sleep_us(200);
    if (OK(urgent_probe(hs, h_ts, d_ts, &hu, &d))) best = std::min(best, d);
  }
  return best;
}

static Lat urgent_run(CUstream low, unsigned blocks, unsigned long long t_ns, CUstream hs, unsigned long long* h_ts,
                      unsigned long long* d_ts, bool alone) {
  Lat L{};
  volatile unsigned* done = h_map + 8;
  *done = 0;
  cuMemsetD32(d_flag + 4 * 32, 0, 1);
  std::atomic<bool> stop{false}, failed{false};
  std::string ferr = "CUDA_SUCCESS";  // read only after join
  const unsigned depth = 4 + (unsigned)(2000000ull / t_ns);
  double tc0 = now_s();
  long long off0 = idle_offset(hs, h_ts, d_ts);
  std::thread feeder;
  if (!alone) {
    feeder = std::thread([&] {
      cuCtxSetCurrent(g_primary);
      double dl = now_s() + 60;
      for (unsigned seq = 1; !stop.load() && now_s() < dl; ++seq) {
        while (seq - 1 - *done >= depth && !stop.load() && now_s() < dl) std::this_thread::yield();
        std::string l = launch(k_low, blocks, 256, low, t_ns, (unsigned*)d_flag + 32, (unsigned*)(dh_map + 32), seq);
        if (!OK(l)) { ferr = l; failed = true; return; }
      }
    });
    double dl = now_s() + 2;
    while (*done < 2 && now_s() < dl && !failed.load()) sleep_us(50);
  }
  std::mt19937 rng(12345 + t_ns);
  std::uniform_real_distribution<double> gap(200, 1200);
  std::vector<double> host, start, when;
  unsigned d0 = *done;
  double tstart = now_s();
  for (int i = 0; i < 300; ++i) {
    sleep_us(gap(rng));
    double hu;
    long long d;
    std::string w = urgent_probe(hs, h_ts + i, d_ts + i, &hu, &d);
    if (!OK(w)) { L.err = w; break; }
    host.push_back(hu);
    start.push_back((double)d);
    when.push_back(now_s());
  }
  double span = now_s() - tstart;
  unsigned d1 = *done;
  stop = true;
  if (feeder.joinable()) feeder.join();
  std::string w = alone ? "CUDA_SUCCESS" : wait_stream(low, 10);
  if (L.err.empty()) L.err = !OK(ferr) ? "feeder:" + ferr : !OK(w) ? "low:" + w : "CUDA_SUCCESS";
  double tc1 = now_s();
  long long off1 = idle_offset(hs, h_ts, d_ts);
  // start delay = (GPU start - host submit) - idle offset, the offset interpolated in time
  bool cal = off0 != LLONG_MAX && off1 != LLONG_MAX;
  for (size_t i = 0; i < start.size(); ++i)
    start[i] = cal ? (start[i] - (off0 + (double)(off1 - off0) * (when[i] - tc0) / (tc1 - tc0))) * 1e-3 : NAN;
  L.drift = cal ? (off1 - off0) * 1e-3 : NAN;
  L.n = host.size();
  std::sort(host.begin(), host.end());
  std::sort(start.begin(), start.end());
  L.p50 = pct(host, .5); L.p99 = pct(host, .99); L.max = pct(host, 1);
  L.s50 = pct(start, .5); L.s99 = pct(start, .99);
  L.busy = alone ? 0 : (d1 - d0) * (t_ns * 1e-9) / span;
  return L;
}

static void part4() {
  int lo = 0, hi = 0;
  cuCtxGetStreamPriorityRange(&lo, &hi);
  cudaStream_t hs, ls;
  cudaStreamCreateWithPriority(&hs, cudaStreamNonBlocking, hi);
  cudaStreamCreateWithPriority(&ls, cudaStreamNonBlocking, lo);
  int bps = 0;
  cudaOccupancyMaxActiveBlocksPerMultiprocessor(&bps, k_low, 256, 0);
  printf("\n== 4. urgent 1-block kernel on an ordinary stream of priority %d vs a full low stream (%d blocks/SM x 256) ==\n", hi, bps);
  printf("   host = launch -> stream query done (us); start = GPU start - host submit, minus the idle offset (us; offset from 30 idle probes before and after each setting, interpolated)\n");
  unsigned long long* h_ts;
  cuMemHostAlloc((void**)&h_ts, 300 * 8, CU_MEMHOSTALLOC_DEVICEMAP | CU_MEMHOSTALLOC_PORTABLE);
  CUdeviceptr dts;
  cuMemHostGetDevicePointer(&dts, h_ts, 0);
  jput("urgent", "config", JObj().add("high_priority", jnum(hi)).add("low_priority", jnum(lo)).add("blocks_per_sm", jnum(bps))
           .add("samples", jnum(300)).add("gap_us", jstr("uniform 200..1200")).str());
  auto report = [&](const std::string& key, int R, unsigned sms, unsigned T, const Lat& L) {
    printf("  %-12s R=%2d green=%3u T=%4u us: host p50 %7.1f p99 %7.1f max %7.1f | start p50 %7.1f p99 %7.1f | drift %.1f | low busy %.2f n=%d %s\n",
           key.c_str(), R, sms, T, L.p50, L.p99, L.max, L.s50, L.s99, L.drift, L.busy, L.n, L.err.c_str());
    jput("urgent", key, JObj().add("R", jnum(R)).add("low_sms", jnum(sms)).add("T_us", jnum(T)).add("host_p50_us", jnum(L.p50))
             .add("host_p99_us", jnum(L.p99)).add("host_max_us", jnum(L.max)).add("start_p50_us", jnum(L.s50))
             .add("start_p99_us", jnum(L.s99)).add("offset_drift_us", jnum(L.drift)).add("low_busy_fraction", jnum(L.busy)).add("n", jnum(L.n)).add("status", jstr(L.err)).str());
  };
  report("alone", 0, 0, 0, urgent_run(nullptr, 0, 1000, (CUstream)hs, h_ts, (unsigned long long*)dts, true));
  for (int R : {0, 8, 16}) {
    Green G;
    CUstream low = (CUstream)ls;
    unsigned sms = g_sms;
    if (R) {
      G = make_green(g_sms - R, lo);
      if (!G.s) { printf("  R=%d: green ctx failed: %s\n", R, G.err.c_str()); continue; }
      low = G.s;
      sms = G.sms;
    }
    for (unsigned T : {50u, 500u, 2000u})
      report("R" + std::to_string(R) + "_T" + std::to_string(T), (int)(g_sms - sms), sms, T,
             urgent_run(low, sms * bps, T * 1000ull, (CUstream)hs, h_ts, (unsigned long long*)dts, false));
    destroy_green(G);
  }
  cudaStreamDestroy(hs);
  cudaStreamDestroy(ls);
  cuMemFreeHost(h_ts);
}

// -------------------------------------------------------------------- main --
int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  set_json_path(argc > 1 ? argv[1] : nullptr);
  start_watchdog(170);
  double t_begin = now_s();
  cudaError_t e = cudaSetDevice(0);
  if (e == cudaSuccess) e = cudaFree(0);
  if (e != cudaSuccess) {
    printf("no usable GPU: %s\n", cudaGetErrorString(e));
    jput("meta", "error", jstr(rtname(e)));
    jwrite();
    return 77;
  }
  cuCtxGetCurrent(&g_primary);
  cuDeviceGet(&g_dev, 0);
  char name[256] = {};
  cuDeviceGetName(name, sizeof name, g_dev);
  int drv = 0, rt = 0, cc1 = 0, cc2 = 0, sms = 0;
  cuDriverGetVersion(&drv);
  cudaRuntimeGetVersion(&rt);
  cuDeviceGetAttribute(&cc1, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, g_dev);
  cuDeviceGetAttribute(&cc2, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, g_dev);
  cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, g_dev);
  CUresult r = cuDeviceGetDevResource(g_dev, &g_devres, CU_DEV_RESOURCE_TYPE_SM);
  g_sms = r == CUDA_SUCCESS ? g_devres.sm.smCount : sms;
  printf("device %s (sm_%d%d), %d SMs, driver API %d, runtime %d\n", name, cc1, cc2, sms, drv, rt);
  printf("SM resource: %s smCount=%u minSmPartitionSize=%u smCoscheduledAlignment=%u\n", cuname(r).c_str(), g_devres.sm.smCount,
         g_devres.sm.minSmPartitionSize, g_devres.sm.smCoscheduledAlignment);
  jput("device", "name", jstr(name));
  jput("device", "cc", jnum(cc1 * 10 + cc2));
  jput("device", "sms", jnum(sms));
  jput("device", "driver_version", jnum(drv));
  jput("device", "runtime_version", jnum(rt));
  jput("device", "sm_resource", JObj().add("status", jstr(cuname(r))).add("smCount", jnum(g_devres.sm.smCount))
           .add("minSmPartitionSize", jnum(g_devres.sm.minSmPartitionSize))
           .add("smCoscheduledAlignment", jnum(g_devres.sm.smCoscheduledAlignment)).str());
  if (r != CUDA_SUCCESS) { jwrite(); return 1; }

  cuStreamCreate(&g_ps, CU_STREAM_NON_BLOCKING);
  cuMemAlloc(&d_sm, 16 * NB);
  cuMemAlloc(&d_aux, 16 * NB);
  cuMemAlloc(&d_flag, 4 * 256);
  cuMemHostAlloc((void**)&h_map, 4096, CU_MEMHOSTALLOC_DEVICEMAP | CU_MEMHOSTALLOC_PORTABLE);
  cuMemHostGetDevicePointer(&dh_map, h_map, 0);
  for (float** p : {&g_A, &g_B, &g_C1, &g_C2}) cudaMalloc(p, (size_t)kN * kN * 4);
  k_init<<<1024, 256>>>(g_A, (size_t)kN * kN, 1);
  k_init<<<1024, 256>>>(g_B, (size_t)kN * kN, 2);
  cublasStatus_t bs = cublasCreate(&g_blas);
  e = cudaDeviceSynchronize();
  printf("setup: %s, cublasCreate %s\n", rtname(e).c_str(), cublasGetStatusName(bs));
  if (e != cudaSuccess || bs != CUBLAS_STATUS_SUCCESS) { jwrite(); return 1; }

  part1();
  part2();
  part3();
  part4();
  jput("meta", "seconds", jnum(now_s() - t_begin));
  printf("\ntotal %.1f s\n", now_s() - t_begin);
  g_done = true;
  jwrite();
  return 0;
}
