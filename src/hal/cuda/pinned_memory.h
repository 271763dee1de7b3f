// Host memory the application page-locked through the driver (cuMemHostAlloc,
// cuMemAllocHost, cuMemHostRegister). Only copies from or to such memory (or
// device and managed memory) may be persisted: the driver runs copies that
// touch pageable memory synchronously, or stages their source before
// returning, so the caller may reuse the buffer at once. The driver cannot
// tell us reliably (with HMM it reports pageable memory as host memory too),
// so the interposer keeps this registry from the allocation calls it sees.
#pragma once

#include <cstddef>

#include "hal/cuda/cuda_driver.h"

namespace xsched::cuda {

void note_pinned(const void* p, std::size_t bytes);
void forget_pinned(const void* p);

// True if [p, p + bytes) lies in one registered range.
bool is_pinned(const void* p, std::size_t bytes);

// True if the driver may touch [p, p + bytes) after the call that names it
// returned: device or managed memory, or registered page-locked host memory.
bool accessible_later(const Driver& d, const void* p, std::size_t bytes);

}  // namespace xsched::cuda
