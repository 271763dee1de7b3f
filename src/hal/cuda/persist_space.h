// What persisting calls may use, one per hardware queue (op_table.h): the
// queue's driver and context, reusable byte blocks for the data calls borrow
// from their callers, and private events that pin a persisted event wait to
// the record current at the call. Used under the XQueue's lock: persist,
// launch and discard are serialised by it.
#pragma once

#include <cstddef>
#include <vector>

#include "hal/cuda/byte_blocks.h"
#include "hal/cuda/cuda_driver.h"

namespace xsched::cuda {

class PersistSpace {
 public:
  PersistSpace(const Driver& driver, CUcontext context) : d(driver), ctx(context) {}
  PersistSpace(const PersistSpace&) = delete;
  PersistSpace& operator=(const PersistSpace&) = delete;

  const Driver& d;
  const CUcontext ctx;

  // At least bytes bytes, 16-aligned, until release; nullptr when memory ran out.
  void* acquire(std::size_t bytes) { return blocks_.acquire(bytes); }
  void release(void* block) { blocks_.release(block); }

  // A private event that completes when the latest record of e made so far
  // does, whatever e records later: a private stream waits for e and records
  // it. The driver's error if it refused.
  CUresult snapshot(CUevent e, CUevent* out);
  // The wait on snapshot was launched, or never will be: it may be reused.
  void give_back_snapshot(CUevent snapshot);

  // Destroys the private stream and events: once, at the queue's release.
  void destroy();

 private:
  CUevent take_snapshot_event();

  ByteBlocks blocks_;
  std::vector<CUevent> free_snapshots_;
  CUstream companion_ = nullptr;  // waits for the events that snapshots pin
};

}  // namespace xsched::cuda
