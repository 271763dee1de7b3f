// What the CUDA hardware queue and the interposer do differently from one
// stream operation to the next, as one row per Op: its name, the command kind
// the scheduler sees, how it is issued through the driver table, and (where
// the operation needs it) how it is persisted, released and traced. In the
// manner of ggml's ggml_backend_i: a struct of function pointers, the
// optional ones null where the operation has nothing to do.
//
// The rows live in op_table.cpp, in Op order; the build fails when an Op has
// no row, or a row lacks a required slot. A new queued CUDA call is its Op
// (call.h), its row (op_table.cpp) and its wrapper (src/interpose/cuda/wrap_*.cpp).
#pragma once

#include <array>
#include <cstddef>

#include "hal/cuda/call.h"
#include "hal/cuda/cuda_driver.h"

namespace xsched::cuda {

class PersistSpace;

struct OpRow {
  Op op;                   // the row's own Op: rows are in Op order (checked at compile time)
  const char* name;        // the driver call, for warnings
  xs_command_kind_t kind;  // what the scheduler sees of it

  // Issues c on stream s through the driver table; CUDA_ERROR_NOT_SUPPORTED
  // where the driver lacks the entry point.
  CUresult (*issue)(const Driver& d, const Call& c, CUstream s);

  // (optional) The kernel c launches. Such a call is what a partition of the
  // device confines (partition.h), its kernel is loaded before its first
  // launch (gates.h), and it reaches the driver before its kernel's
  // attributes change. null: c launches no kernel. (A graph launch is not one:
  // measured on the H100, a graph launched on a green context's stream still
  // runs on the whole device, bench/results/probes/README.md.)
  CUfunction (*kernel)(const Call& c) = nullptr;

  // (optional) c will be launched later, by another thread: copies what it
  // borrows from its caller into the queue's keeping. XS_ERR_UNSUPPORTED: c
  // cannot wait (the driver could not describe its data, or the data is
  // pageable memory the caller may reuse at once), so its caller launches it
  // now. XS_ERR_PLATFORM: the driver refused, with its error in *error.
  // null: c's operands are values.
  xs_result_t (*persist)(PersistSpace& space, Call& c, CUresult* error) = nullptr;

  // (optional) Gives back what persist took, once c launched or will never
  // launch. null: persist takes nothing.
  void (*release)(PersistSpace& space, Call& c) = nullptr;

  // (optional) c's arguments as a trace line shows them, for a call its
  // caller made on `stream` (queue: the XQueue that took it, 0: none).
  // Returns what snprintf returns. null: a line without arguments.
  int (*describe)(char* out, std::size_t n, const Call& c, CUstream stream, unsigned long long queue,
                  const Driver* d) = nullptr;
};

// The rows, indexed by Op (op_table.cpp).
extern const std::array<OpRow, kOpCount> kOpRows;

inline const OpRow& op_row(Op op) { return kOpRows[static_cast<std::size_t>(op)]; }

// The command for call. error (may be null) is where a launch or persist
// made during XQueue::submit, in the submitter's thread, leaves the driver's
// error for the submitter: it rides in the command's platform_slot until the
// command is launched or persisted (the queue uses the slot for its sync
// event after that).
inline Command make_command(const Call& call, CUresult* error) {
  Command c;
  c.kind = op_row(call.op).kind;
  c.kernel_desc<Call>() = call;
  c.platform_slot = reinterpret_cast<uintptr_t>(error);
  return c;
}

}  // namespace xsched::cuda
