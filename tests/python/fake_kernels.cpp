// Kernels of the fake CUDA driver (tests/fake_cuda/fake_kernel.h) for the
// Python tests, which launch them through the interposer with ctypes: the
// same FakeKernel objects the C++ tests use, reached by name.
#include "fake_kernel.h"

#define XS_TEST_EXPORT extern "C" __attribute__((visibility("default")))

// sleep(unsigned microseconds): keeps its stream busy that long.
XS_TEST_EXPORT CUfunction xs_test_fake_sleep_kernel() { return fake_kernel_sleep(); }

// store(int v, int* p): *p = v.
XS_TEST_EXPORT CUfunction xs_test_fake_store_kernel() { return fake_kernel_store(); }
