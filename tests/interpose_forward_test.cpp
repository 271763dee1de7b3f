// libxsched_cuda.so in front of the minimal fake driver, as a program linked
// with -lcuda sees it: calls xsched does not wrap reach the driver through the
// trampolines with every argument intact, every driver name is exported, and
// cuGetProcAddress hands out the driver's pointers (or the interposer's own).
// Run with XSCHED_REAL_LIBCUDA=<the fake> (tests/CMakeLists.txt sets it).
#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "interpose_fake_min/fake_min_driver.h"

namespace {

// The fake, as the interposer opened it (the same file gives the same object).
void* fake() {
  static void* const h = dlopen(XS_FAKE_MIN_DRIVER, RTLD_NOW | RTLD_LOCAL);
  return h;
}

FakeMinRecord& record() {
  auto fn = reinterpret_cast<FakeMinRecordFn>(dlsym(fake(), "fake_min_record"));
  return *fn();
}

// The interposer: what this program's DT_NEEDED libcuda.so.1 became.
void* interposer() {
  static void* const h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  return h;
}

std::string object_of(const void* p) {
  Dl_info info;
  return dladdr(p, &info) != 0 && info.dli_fname != nullptr ? info.dli_fname : "";
}

std::string symbol_of(const void* p) {
  Dl_info info;
  return dladdr(p, &info) != 0 && info.dli_sname != nullptr ? info.dli_sname : "";
}

template <typename Fn>
Fn from_interposer(const char* name) {
  return reinterpret_cast<Fn>(dlsym(interposer(), name));
}

TEST(InterposeForward, TheProgramGotTheInterposer) {
  ASSERT_NE(fake(), nullptr) << dlerror();
  ASSERT_NE(interposer(), nullptr);
  EXPECT_NE(dlsym(interposer(), "xsched_interposer_abi"), nullptr) << "libcuda.so.1 is not libxsched_cuda.so";
  EXPECT_EQ(dlsym(fake(), "xsched_interposer_abi"), nullptr);
  EXPECT_NE(object_of(dlsym(interposer(), "cuDeviceGetCount")), object_of(dlsym(fake(), "cuDeviceGetCount")));
}

TEST(InterposeForward, EveryDriverNameIsExported) {
  std::ifstream in(XS_DRIVER_EXPORTS);
  ASSERT_TRUE(in) << XS_DRIVER_EXPORTS;
  const std::string ours = object_of(dlsym(interposer(), "xsched_interposer_abi"));
  size_t names = 0;
  for (std::string name; std::getline(in, name);) {
    if (name.empty() || name[0] == '#') continue;
    ++names;
    void* p = dlsym(interposer(), name.c_str());
    ASSERT_NE(p, nullptr) << name;
    EXPECT_EQ(object_of(p), ours) << name;
  }
  EXPECT_GT(names, 600u);
}

TEST(InterposeForward, IntegerArguments) {
  int count = -1;
  EXPECT_EQ(cuDeviceGetCount(&count), CUDA_SUCCESS);  // first call: through the resolver
  EXPECT_EQ(count, 3);
  count = -1;
  EXPECT_EQ(cuDeviceGetCount(&count), CUDA_SUCCESS);  // then straight through the slot
  EXPECT_EQ(count, 3);
  EXPECT_EQ(cuDeviceGetCount(nullptr), CUDA_ERROR_INVALID_VALUE);
}

TEST(InterposeForward, FloatArguments) {
  auto* tex = reinterpret_cast<CUtexref>(0x1234);
  EXPECT_EQ(cuTexRefSetMipmapLevelBias(tex, 0.75f), CUDA_SUCCESS);
  EXPECT_EQ(record().bias_tex, tex);
  EXPECT_EQ(record().bias, 0.75f);
  EXPECT_EQ(cuTexRefSetMipmapLevelBias(tex, -3.5f), CUDA_SUCCESS);
  EXPECT_EQ(record().bias, -3.5f);

  auto* tex2 = reinterpret_cast<CUtexref>(0x5678);
  EXPECT_EQ(cuTexRefSetMipmapLevelClamp(tex2, -1.5f, 2.25f), CUDA_SUCCESS);
  EXPECT_EQ(record().clamp_tex, tex2);
  EXPECT_EQ(record().clamp_min, -1.5f);
  EXPECT_EQ(record().clamp_max, 2.25f);
}

// 16 arguments: six in registers, ten on the stack.
TEST(InterposeForward, ManyArguments) {
  for (int round = 0; round < 2; ++round) {  // resolver, then slot
    auto* map = reinterpret_cast<CUtensorMap*>(0x1000 + round);
    void* global = reinterpret_cast<void*>(0x2000 + round);
    const auto* dims = reinterpret_cast<const cuuint64_t*>(0x3000 + round);
    const auto* strides = reinterpret_cast<const cuuint64_t*>(0x4000 + round);
    const auto* elems = reinterpret_cast<const cuuint32_t*>(0x5000 + round);
    ASSERT_EQ(cuTensorMapEncodeIm2colWide(map, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 4 + round, global, dims, strides, -7 - round,
                                          9 + round, 64 + round, 128 + round, elems, CU_TENSOR_MAP_INTERLEAVE_NONE,
                                          CU_TENSOR_MAP_IM2COL_WIDE_MODE_W128, CU_TENSOR_MAP_SWIZZLE_128B,
                                          CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NAN_REQUEST_ZERO_FMA),
              CUDA_SUCCESS);
    const auto& e = record().encode;
    EXPECT_EQ(e.calls, round + 1);
    EXPECT_EQ(e.tensor_map, map);
    EXPECT_EQ(e.data_type, CU_TENSOR_MAP_DATA_TYPE_FLOAT32);
    EXPECT_EQ(e.rank, 4u + round);
    EXPECT_EQ(e.global_address, global);
    EXPECT_EQ(e.global_dim, dims);
    EXPECT_EQ(e.global_strides, strides);
    EXPECT_EQ(e.lower_corner, -7 - round);
    EXPECT_EQ(e.upper_corner, 9 + round);
    EXPECT_EQ(e.channels, 64u + round);
    EXPECT_EQ(e.pixels, 128u + round);
    EXPECT_EQ(e.element_strides, elems);
    EXPECT_EQ(e.interleave, CU_TENSOR_MAP_INTERLEAVE_NONE);
    EXPECT_EQ(e.mode, CU_TENSOR_MAP_IM2COL_WIDE_MODE_W128);
    EXPECT_EQ(e.swizzle, CU_TENSOR_MAP_SWIZZLE_128B);
    EXPECT_EQ(e.l2, CU_TENSOR_MAP_L2_PROMOTION_L2_256B);
    EXPECT_EQ(e.oob, CU_TENSOR_MAP_FLOAT_OOB_FILL_NAN_REQUEST_ZERO_FMA);
  }
}

// A host-side query xsched never wraps, which the fake does not have.
TEST(InterposeForward, SymbolTheDriverLacksIsNotFound) {
  using GetName = CUresult (*)(char*, int, CUdevice);
  auto get_name = from_interposer<GetName>("cuDeviceGetName");
  ASSERT_NE(get_name, nullptr);
  char name[8] = "keep";
  EXPECT_EQ(get_name(name, sizeof name, 0), CUDA_ERROR_NOT_FOUND);
  EXPECT_EQ(get_name(name, sizeof name, 0), CUDA_ERROR_NOT_FOUND);
  EXPECT_STREQ(name, "keep");
}

// The first call of a symbol, from many threads at once: each resolves or
// finds it resolved, and every call arrives.
TEST(InterposeForward, ConcurrentFirstCalls) {
  constexpr int kThreads = 16;
  std::atomic<int> ready{0}, ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      for (int i = 0; i < 100; ++i) {
        int v = 0;
        if (cuDriverGetVersion(&v) == CUDA_SUCCESS && v == 13000) ok.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * 100);
}

TEST(InterposeForward, ProcAddressOfAnUnwrappedCallIsTheDriversPointer) {
  void* p = nullptr;
  CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
  ASSERT_EQ(cuGetProcAddress_v2("cuDeviceGetCount", &p, 12000, CU_GET_PROC_ADDRESS_DEFAULT, &st), CUDA_SUCCESS);
  EXPECT_EQ(st, CU_GET_PROC_ADDRESS_SUCCESS);
  EXPECT_EQ(p, dlsym(fake(), "cuDeviceGetCount"));

  p = nullptr;
  ASSERT_EQ(cuGetProcAddress("cuTexRefSetMipmapLevelBias", &p, 11030, CU_GET_PROC_ADDRESS_DEFAULT), CUDA_SUCCESS);
  EXPECT_EQ(p, dlsym(fake(), "cuTexRefSetMipmapLevelBias"));
}

// The variant the driver picks is the variant handed out: its own, or the
// interposer's wrapper of that same exported name.
TEST(InterposeForward, ProcAddressKeepsTheDriversVariant) {
  void* p = nullptr;
  CUdriverProcAddressQueryResult st;
  ASSERT_EQ(cuGetProcAddress_v2("cuStreamQuery", &p, 12000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, &st),
            CUDA_SUCCESS);
  EXPECT_EQ(symbol_of(p), "cuStreamQuery_ptsz");
  ASSERT_EQ(cuGetProcAddress_v2("cuStreamQuery", &p, 12000, CU_GET_PROC_ADDRESS_LEGACY_STREAM, &st), CUDA_SUCCESS);
  EXPECT_EQ(symbol_of(p), "cuStreamQuery");
}

TEST(InterposeForward, ProcAddressOfItselfIsTheInterposers) {
  void* p = nullptr;
  CUdriverProcAddressQueryResult st;
  ASSERT_EQ(cuGetProcAddress_v2("cuGetProcAddress", &p, 12000, CU_GET_PROC_ADDRESS_DEFAULT, &st), CUDA_SUCCESS);
  EXPECT_EQ(p, dlsym(interposer(), "cuGetProcAddress_v2"));
  EXPECT_NE(p, dlsym(fake(), "cuGetProcAddress_v2"));

  // What the runtime does next: look everything else up through it.
  auto gpa = reinterpret_cast<decltype(&cuGetProcAddress_v2)>(p);
  void* q = nullptr;
  ASSERT_EQ(gpa("cuDeviceGetCount", &q, 12000, CU_GET_PROC_ADDRESS_DEFAULT, &st), CUDA_SUCCESS);
  EXPECT_EQ(q, dlsym(fake(), "cuDeviceGetCount"));

  ASSERT_EQ(cuGetProcAddress_v2("cuGetProcAddress", &p, 11030, CU_GET_PROC_ADDRESS_DEFAULT, &st), CUDA_SUCCESS);
  EXPECT_EQ(p, dlsym(interposer(), "cuGetProcAddress"));
  ASSERT_EQ(cuGetProcAddress("cuGetProcAddress", &p, 12000, CU_GET_PROC_ADDRESS_DEFAULT), CUDA_SUCCESS);
  EXPECT_EQ(p, dlsym(interposer(), "cuGetProcAddress_v2"));
}

TEST(InterposeForward, ProcAddressOfAnUnknownExportPassesThrough) {
  void* p = nullptr;
  CUdriverProcAddressQueryResult st;
  ASSERT_EQ(cuGetProcAddress_v2("fakeMinOnlyEntryPoint", &p, 12000, CU_GET_PROC_ADDRESS_DEFAULT, &st), CUDA_SUCCESS);
  EXPECT_EQ(p, dlsym(fake(), "fakeMinOnlyEntryPoint"));
}

TEST(InterposeForward, ProcAddressErrorsAreTheDrivers) {
  void* p = reinterpret_cast<void*>(1);
  CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SUCCESS;
  EXPECT_EQ(cuGetProcAddress_v2("cuNoSuchCall", &p, 12000, CU_GET_PROC_ADDRESS_DEFAULT, &st), CUDA_ERROR_NOT_FOUND);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(st, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
  EXPECT_EQ(cuGetProcAddress_v2("cuDeviceGetCount", nullptr, 12000, CU_GET_PROC_ADDRESS_DEFAULT, &st),
            CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(cuGetProcAddress_v2(nullptr, &p, 12000, CU_GET_PROC_ADDRESS_DEFAULT, &st), CUDA_ERROR_INVALID_VALUE);
}

}  // namespace
