// The HIP interposer's entry points beyond the module API, in front of the
// fake HIP runtime: hipExtModuleLaunchKernel (its C name of ROCm 6 and its
// C++ name of ROCm 5), hipcc's `<<<>>>` (__hipPushCallConfiguration,
// __hipPopCallConfiguration, then hipLaunchKernel), the _spt flavours (on a
// stream of the program, and on the per-thread default stream),
// hipGetProcAddress, and the symbol versions the wrappers are exported
// under. Queues are held with the control API (xsched_hip.h), so each check
// reads whether a call was held, went after held work, or reached the fake.
//
// Linked with libxsched_hip.so ahead of libfake_hip.so (as
// hip_interpose_control_test); ctest sets XSCHED_REAL_LIBHIP, XSCHED_LEVEL=1
// and XSCHED_SCHEDULER=local.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <hip/hip_runtime_api.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "fake_hip_kernel.h"
#include "xsched/xsched_hip.h"

extern "C" unsigned long long fake_hip_launches(void);
extern "C" unsigned long long fake_hip_ext_launches(void);

// hip_ext.h of ROCm 5 (C++ linkage): what a program built against it calls.
hipError_t hipExtModuleLaunchKernel(hipFunction_t f, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t lx, uint32_t ly,
                                    uint32_t lz, size_t shared, hipStream_t stream, void** params, void** extra,
                                    hipEvent_t start = nullptr, hipEvent_t stop = nullptr, uint32_t flags = 0);

namespace {

using AppendArgs = fake_hip_detail::AppendArgs;
using ExtLaunchC = hipError_t (*)(hipFunction_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, size_t,
                                  hipStream_t, void**, void**, hipEvent_t, hipEvent_t, uint32_t);
using GetProcAddress = hipError_t (*)(const char*, void**, int, uint64_t, int*);
using MemsetAsyncSpt = hipError_t (*)(void*, int, size_t, hipStream_t);

// HIP_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM (hip_runtime_api.h of ROCm 6.1).
constexpr uint64_t kProcPerThread = 1u << 1;

void* interposer() {
  static void* const h = dlopen("libxsched_hip.so", RTLD_NOW | RTLD_NOLOAD);
  return h;
}

void* fake() {
  static void* const h = dlopen(std::getenv("XSCHED_REAL_LIBHIP"), RTLD_NOW | RTLD_NOLOAD);
  return h;
}

// The interposer's function `name`, failing the test if it has none.
void* ours(const char* name) {
  void* f = interposer() != nullptr ? dlsym(interposer(), name) : nullptr;
  EXPECT_NE(f, nullptr) << name;
  return f;
}

// The packed-arguments form of `extra` for args.
template <class Args>
struct Packed {
  explicit Packed(const Args& a) : args(a) {}
  Args args;
  size_t bytes = sizeof(Args);
  void* extra[5] = {HIP_LAUNCH_PARAM_BUFFER_POINTER, &args, HIP_LAUNCH_PARAM_BUFFER_SIZE, &bytes, HIP_LAUNCH_PARAM_END};
};

class HipEntry : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(interposer(), nullptr);
    ASSERT_NE(fake(), nullptr) << "XSCHED_REAL_LIBHIP must name the loaded fake runtime";
    ASSERT_EQ(hipStreamCreateWithFlags(&s_, hipStreamNonBlocking), hipSuccess);
    ASSERT_EQ(xs_hip_stream_queue(s_, -1, &q_), XS_OK) << xs_hip_last_error();
  }
  void TearDown() override {
    EXPECT_EQ(xs_hip_queue_resume(q_), XS_OK);
    EXPECT_EQ(hipStreamSynchronize(s_), hipSuccess);
    EXPECT_EQ(hipStreamDestroy(s_), hipSuccess);
  }
  xs_queue_info_t info(uint64_t q) const {
    xs_queue_info_t i{};
    i.struct_size = sizeof i;
    EXPECT_EQ(xs_hip_queue_query(q, &i), XS_OK) << xs_hip_last_error();
    return i;
  }
  hipError_t append(hipStream_t s, int value) {
    Packed<AppendArgs> p(AppendArgs{log_.data(), &cursor_, value});
    return hipModuleLaunchKernel(fake_hip_kernel_append(), 1, 1, 1, 1, 1, 1, 0, s, nullptr, p.extra);
  }
  std::vector<int> logged() const { return std::vector<int>(log_.begin(), log_.begin() + cursor_); }

  hipStream_t s_ = nullptr;
  uint64_t q_ = 0;
  std::vector<int> log_ = std::vector<int>(64, 0);
  int cursor_ = 0;
};

// Both names reach the interposer, which holds the kernel with a copy of its
// arguments and launches it later through the runtime's
// hipExtModuleLaunchKernel (the grid in work-items: not turned into blocks).
TEST_F(HipEntry, ExtModuleLaunchKernelIsHeldWithItsArguments) {
  const auto c_name = reinterpret_cast<ExtLaunchC>(dlsym(RTLD_DEFAULT, "hipExtModuleLaunchKernel"));
  ASSERT_NE(c_name, nullptr);
  EXPECT_NE(reinterpret_cast<void*>(c_name), dlsym(fake(), "hipExtModuleLaunchKernel")) << "the fake's, not ours";
  ASSERT_EQ(xs_hip_queue_suspend(q_, XS_SUSPEND_SYNC), XS_OK);
  const unsigned long long before = fake_hip_launches(), ext_before = fake_hip_ext_launches();
  Packed<AppendArgs> p(AppendArgs{log_.data(), &cursor_, 0});
  for (int v = 1; v <= 6; ++v) {
    p.args.value = v;
    if (v % 2 == 1) {
      ASSERT_EQ(c_name(fake_hip_kernel_append(), 5, 1, 1, 4, 1, 1, 0, s_, nullptr, p.extra, nullptr, nullptr, 0),
                hipSuccess);
    } else {
      ASSERT_EQ(hipExtModuleLaunchKernel(fake_hip_kernel_append(), 5, 1, 1, 4, 1, 1, 0, s_, nullptr, p.extra),
                hipSuccess);
    }
    p.args.value = -1;  // changed after the launch: each held kernel has its own copy
  }
  EXPECT_EQ(fake_hip_launches(), before) << "a kernel of a suspended stream reached the runtime";
  EXPECT_EQ(info(q_).pending, 6u);
  ASSERT_EQ(xs_hip_queue_resume(q_), XS_OK);
  ASSERT_EQ(hipStreamSynchronize(s_), hipSuccess);
  EXPECT_EQ(logged(), (std::vector<int>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(fake_hip_ext_launches(), ext_before + 6) << "launched through another call than hipExtModuleLaunchKernel";
}

// With events the kernel is not held (the runtime records them at the
// launch): what the stream holds goes first, then the call as made.
TEST_F(HipEntry, ExtModuleLaunchKernelWithEventsGoesAfterTheHeldWork) {
  hipEvent_t start = nullptr, stop = nullptr;
  ASSERT_EQ(hipEventCreate(&start), hipSuccess);
  ASSERT_EQ(hipEventCreate(&stop), hipSuccess);
  ASSERT_EQ(xs_hip_queue_suspend(q_, XS_SUSPEND_SYNC), XS_OK);
  ASSERT_EQ(append(s_, 1), hipSuccess);
  EXPECT_EQ(info(q_).pending, 1u);
  Packed<AppendArgs> p(AppendArgs{log_.data(), &cursor_, 2});
  ASSERT_EQ(hipExtModuleLaunchKernel(fake_hip_kernel_append(), 1, 1, 1, 1, 1, 1, 0, s_, nullptr, p.extra, start, stop),
            hipSuccess);
  EXPECT_EQ(info(q_).pending, 0u) << "the held kernel was not launched before the one with events";
  EXPECT_EQ(info(q_).submitted, 1u) << "the kernel with events went into the queue";
  ASSERT_EQ(hipEventSynchronize(stop), hipSuccess);
  EXPECT_EQ(logged(), (std::vector<int>{1, 2}));
  EXPECT_EQ(hipEventDestroy(start), hipSuccess);
  EXPECT_EQ(hipEventDestroy(stop), hipSuccess);
}

// What hipcc makes of kernel<<<grid, block, shared, s>>>(args): the
// configuration pushed, then the kernel's stub pops it and calls
// hipLaunchKernel, which goes after what the stream holds.
TEST_F(HipEntry, TripleChevronLaunchGoesAfterTheHeldWork) {
  ASSERT_EQ(xs_hip_queue_suspend(q_, XS_SUSPEND_SYNC), XS_OK);
  ASSERT_EQ(append(s_, 1), hipSuccess);
  ASSERT_EQ(__hipPushCallConfiguration(dim3(2, 1, 1), dim3(64, 1, 1), 128, s_), hipSuccess);
  dim3 grid, block;
  size_t shared = 0;
  hipStream_t stream = nullptr;
  ASSERT_EQ(__hipPopCallConfiguration(&grid, &block, &shared, &stream), hipSuccess);
  EXPECT_EQ((std::vector<unsigned>{grid.x, block.x, static_cast<unsigned>(shared)}),
            (std::vector<unsigned>{2, 64, 128}));
  EXPECT_EQ(stream, s_);
  AppendArgs a{log_.data(), &cursor_, 2};
  void* args[] = {&a};
  ASSERT_EQ(hipLaunchKernel(reinterpret_cast<const void*>(fake_hip_kernel_append()), grid, block, args, shared,
                            stream),
            hipSuccess);
  EXPECT_EQ(info(q_).pending, 0u) << "hipLaunchKernel did not launch the held kernel first";
  ASSERT_EQ(hipStreamSynchronize(s_), hipSuccess);
  EXPECT_EQ(logged(), (std::vector<int>{1, 2}));
}

// The _spt flavours on a stream the program made: scheduled as the plain ones.
TEST_F(HipEntry, PerThreadFlavoursOnAProgramsStreamAreScheduled) {
  const auto memset_spt = reinterpret_cast<MemsetAsyncSpt>(dlsym(RTLD_DEFAULT, "hipMemsetAsync_spt"));
  ASSERT_EQ(reinterpret_cast<void*>(memset_spt), ours("hipMemsetAsync_spt"));
  void* dev = nullptr;
  ASSERT_EQ(hipMalloc(&dev, 64), hipSuccess);
  std::vector<unsigned char> host(64, 0);
  ASSERT_EQ(xs_hip_queue_suspend(q_, XS_SUSPEND_SYNC), XS_OK);
  ASSERT_EQ(memset_spt(dev, 0x2a, 64, s_), hipSuccess);
  ASSERT_EQ(hipMemcpyAsync_spt(static_cast<char*>(dev) + 32, dev, 32, hipMemcpyDeviceToDevice, s_), hipSuccess);
  EXPECT_EQ(info(q_).pending, 2u) << "the _spt fill and copy of a held stream were not held";
  EXPECT_EQ(hipStreamQuery_spt(s_), hipErrorNotReady);
  ASSERT_EQ(xs_hip_queue_resume(q_), XS_OK);
  ASSERT_EQ(hipStreamSynchronize_spt(s_), hipSuccess);
  EXPECT_EQ(info(q_).completed, info(q_).submitted) << "hipStreamSynchronize_spt returned before the queue ran";
  ASSERT_EQ(hipMemcpy(host.data(), dev, 64, hipMemcpyDeviceToHost), hipSuccess);
  EXPECT_EQ(host, std::vector<unsigned char>(64, 0x2a));
  EXPECT_EQ(hipFree(dev), hipSuccess);
}

// Stream 0 of an _spt call is the calling thread's per-thread stream: not
// scheduled, not the null stream's queue, and after what the null stream holds.
TEST_F(HipEntry, PerThreadStreamGoesAfterTheNullStreamsHeldWork) {
  uint64_t null_q = 0;
  ASSERT_EQ(xs_hip_stream_queue(nullptr, -1, &null_q), XS_OK) << xs_hip_last_error();
  ASSERT_EQ(xs_hip_queue_suspend(null_q, XS_SUSPEND_SYNC), XS_OK);
  const unsigned long long before = fake_hip_launches();
  // A kernel that writes nothing: the two streams' kernels may run at once.
  Packed<unsigned> us(10);
  ASSERT_EQ(hipModuleLaunchKernel(fake_hip_kernel_sleep(), 1, 1, 1, 1, 1, 1, 0, nullptr, nullptr, us.extra),
            hipSuccess);
  const uint64_t submitted = info(null_q).submitted;
  EXPECT_EQ(info(null_q).pending, 1u);
  AppendArgs a{log_.data(), &cursor_, 2};
  void* args[] = {&a};
  ASSERT_EQ(hipLaunchKernel_spt(reinterpret_cast<const void*>(fake_hip_kernel_append()), dim3(1), dim3(1), args, 0,
                                nullptr),
            hipSuccess);
  EXPECT_EQ(info(null_q).pending, 0u) << "the null stream's held kernel was not launched first";
  EXPECT_EQ(info(null_q).submitted, submitted) << "an _spt call on stream 0 went to the null stream's queue";
  ASSERT_EQ(hipStreamSynchronize_spt(nullptr), hipSuccess);
  EXPECT_EQ(logged(), (std::vector<int>{2})) << "hipStreamSynchronize_spt(0) did not wait for the per-thread stream";
  ASSERT_EQ(xs_hip_queue_resume(null_q), XS_OK);
  ASSERT_EQ(hipStreamSynchronize(nullptr), hipSuccess);
  EXPECT_EQ(fake_hip_launches(), before + 2);
}

// hipGetProcAddress hands out the interposer's function for the names it
// wraps, the variant the runtime picks included (the _spt one for the
// per-thread flag), and the runtime's for the others.
TEST_F(HipEntry, GetProcAddressHandsOutTheWrappers) {
  const auto get = reinterpret_cast<GetProcAddress>(dlsym(RTLD_DEFAULT, "hipGetProcAddress"));
  ASSERT_EQ(reinterpret_cast<void*>(get), ours("hipGetProcAddress"));
  struct Case {
    const char* symbol;
    uint64_t flags;
    void* expected;
  };
  for (const Case& c : {Case{"hipModuleLaunchKernel", 0, ours("hipModuleLaunchKernel")},
                        Case{"hipLaunchKernel", kProcPerThread, ours("hipLaunchKernel_spt")},
                        Case{"hipLaunchKernel", 0, ours("hipLaunchKernel")},
                        Case{"hipExtModuleLaunchKernel", 0, ours("hipExtModuleLaunchKernel")},
                        Case{"hipGetProcAddress", 0, ours("hipGetProcAddress")},
                        Case{"hipGetDeviceCount", 0, dlsym(fake(), "hipGetDeviceCount")}}) {
    void* fn = nullptr;
    int status = -1;
    EXPECT_EQ(get(c.symbol, &fn, 600, c.flags, &status), hipSuccess) << c.symbol;
    EXPECT_EQ(fn, c.expected) << c.symbol << " flags " << c.flags;
    EXPECT_EQ(status, 0) << c.symbol;
  }
  void* fn = nullptr;
  int status = -1;
  EXPECT_EQ(get("hipNoSuchCall", &fn, 600, 0, &status), hipErrorInvalidValue);
  EXPECT_EQ(fn, nullptr);
  EXPECT_EQ(status, 1);
}

// Each wrapper is exported under the runtime's version: a lookup of that
// version (dlvsym; a program built against the runtime asks the same) finds it.
TEST(HipEntryVersions, WrappersAnswerForTheRuntimesVersions) {
  struct Versioned {
    const char* name;
    const char* version;
  };
  for (const Versioned& v : {Versioned{"hipModuleLaunchKernel", "hip_4.2"},
                             Versioned{"hipStreamSynchronize", "hip_4.2"},
                             Versioned{"__hipPushCallConfiguration", "hip_4.2"},
                             Versioned{"hipExtModuleLaunchKernel", "hip_4.2"},
                             Versioned{"_Z24hipExtModuleLaunchKernelP18ihipModuleSymbol_tjjjjjjmP12ihipStream_tPPvS4_"
                                       "P11ihipEvent_tS6_j",
                                       "hip_4.2"},
                             Versioned{"hipLaunchKernel_spt", "hip_5.2"}, Versioned{"hipMemsetAsync_spt", "hip_5.3"},
                             Versioned{"hipLaunchHostFunc", "hip_5.3"}, Versioned{"hipGetProcAddress", "hip_6.1"},
                             Versioned{"hipGetProcAddress_spt", "hip_7.2"}}) {
    void* found = dlvsym(RTLD_DEFAULT, v.name, v.version);
    EXPECT_NE(found, nullptr) << v.name << "@" << v.version;
    EXPECT_EQ(found, dlsym(interposer(), v.name)) << v.name << "@" << v.version << " is not the interposer's";
  }
  EXPECT_EQ(dlvsym(RTLD_DEFAULT, "xs_hip_control_abi", "XSCHED_HIP_1"), dlsym(interposer(), "xs_hip_control_abi"));
}

}  // namespace
