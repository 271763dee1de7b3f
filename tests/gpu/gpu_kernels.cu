// Kernels for driver_api_prog: compiled at build time to a fatbin (nvcc -fatbin), embedded in the
// program and loaded with cuModuleLoadData. extern "C" keeps the names unmangled for
// cuModuleGetFunction.
#include "gpu_common.h"

using namespace gputest;

extern "C" __global__ void k_fill(uint32_t* buf, uint32_t seed, int n) { body_fill(buf, seed, n); }

extern "C" __global__ void k_mix(uint32_t* buf, uint32_t tag, int n) { body_mix(buf, tag, n); }

extern "C" __global__ void k_mix_slow(uint32_t* buf, uint32_t tag, int n, uint64_t ns) {
  body_mix_slow(buf, tag, n, ns);
}

extern "C" __global__ void k_combine(const uint32_t* src, uint32_t* dst, uint32_t tag, int n, uint64_t ns) {
  body_combine(src, dst, tag, n, ns);
}

extern "C" __global__ void k_struct(Params48 p, uint32_t* out, int n) { body_struct(p, out, n); }

extern "C" __global__ void k_struct_acc(Params48 p, uint32_t* out, int n) { body_struct_acc(p, out, n); }

extern "C" __global__ void k_mixed(char a, Odd o, float f, uint16_t h, Params48 p, Big big, uint32_t* out) {
  body_mixed(a, o, f, h, p, big, out);
}

extern "C" __global__ void k_write_flag(volatile uint32_t* flag, uint32_t value) { body_write_flag(flag, value); }
