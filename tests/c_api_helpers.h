// Commands for the C API's tests.
#pragma once

#include "xsched/xsched.h"

namespace xsched::testing {

// A kernel of the CPU reference device; k must outlive the submit.
inline xs_command_t host_kernel(const xs_host_kernel_t* k) {
  xs_command_t c{};
  c.kind = XS_CMD_KERNEL;
  c.u.kernel.desc = k;
  c.u.kernel.desc_size = sizeof(*k);
  return c;
}

}  // namespace xsched::testing
