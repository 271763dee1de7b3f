// Kernels of the fake HIP runtime (tests/fake_hip/fake_hip_kernel.h) for the
// Python tests, which launch them through the HIP interposer with ctypes: the
// same FakeHipKernel objects the C++ tests use, reached by name.
#include "fake_hip_kernel.h"

#define XS_TEST_EXPORT extern "C" __attribute__((visibility("default")))

// sleep(unsigned microseconds): keeps its stream busy that long.
XS_TEST_EXPORT hipFunction_t xs_test_fake_hip_sleep_kernel() { return fake_hip_kernel_sleep(); }
