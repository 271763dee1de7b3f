// The hardware model: a hardware queue is one native queue of one device,
// described by a small table of operations. A new platform fills in Level 1;
// the pointers of the levels it cannot do stay null.
//
//   Level 1  launch / sync                 every platform
//   Level 2  deactivate / reactivate       (optional) hold launched commands
//   Level 3  interrupt / restore           (optional) stop the running command
//   reserve  confine                       (optional) leave execution units free for urgent work
//
// Fill tables with designated initializers: the order of the members is
// not part of the interface.
//
// Operations are called by one XQueue, serialised by it, never concurrently
// with each other except sync(), which may run while the others are called.
// A launch at submit runs in the submitter's thread; later ones run in the
// queue's worker thread or in a thread that flushes the queue.
// None of them may call back into the XQueue.
#pragma once

#include "core/command.h"
#include "core/external_hold.h"
#include "xsched/xsched.h"

namespace xsched {

struct HwQueueOps {
  const char* platform;  // short name: "host", "cuda"

  // ---- Level 1 ----
  // Capture at submit, in the submitter's thread, what the call must see then (event generations) (optional).
  xs_result_t (*prepare)(void* ctx, Command* cmd);
  // Start cmd on the native queue after everything launched before it; must not wait for device work.
  xs_result_t (*launch)(void* ctx, Command* cmd);
  // cmd was not launched at submit and will be launched later, maybe by another thread: copy what it
  // borrows from the caller (kernel arguments, descriptors) (optional).
  xs_result_t (*persist)(void* ctx, Command* cmd);
  // cmd, persisted, will never be launched (a command before it failed): release what persist took (optional).
  void (*discard)(void* ctx, Command* cmd);
  // Block until cmd (launched, cmd->sync_point set) has completed; cmd == nullptr: everything launched so far.
  xs_result_t (*sync)(void* ctx, Command* cmd);
  // The program has seen every command through seq `through` complete (its own synchronisation
  // returned): sync(nullptr) need not put anything on the native queue to learn it, and what it
  // already put there behind those commands is done before this returns (optional).
  void (*caught_up)(void* ctx, uint64_t through);

  // ---- Level 2 (optional) ----
  // Hold launched commands that have not started; the running one finishes.
  xs_result_t (*deactivate)(void* ctx);
  // Let held commands start again, in order.
  xs_result_t (*reactivate)(void* ctx);
  // The hold xschedd may place on the hardware queue by itself (its gate's
  // word, gates/gate_words.h); it lives until release (optional; null: none).
  ExternalHold* (*external_hold)(void* ctx);

  // ---- Level 3 (optional) ----
  // Stop the running command too, keeping its progress (called after deactivate).
  xs_result_t (*interrupt)(void* ctx);
  // Continue the interrupted command (called before reactivate).
  xs_result_t (*restore)(void* ctx);

  // ---- spatial reservation (optional) ----
  // Run the commands launched from now on until steady-clock time until_ns on
  // a part of the device that leaves a reserve of execution units free, for
  // the more urgent queues that may come (0: on the whole device). The only
  // operation that may be called from any thread at any time: it takes
  // effect at the next launch.
  void (*confine)(void* ctx, int64_t until_ns);

  // ---- lifetime ----
  // The XQueue is done with this hardware queue (optional).
  void (*release)(void* ctx);
};

struct HwQueue {
  const HwQueueOps* ops = nullptr;
  void* ctx = nullptr;
};

// The highest level whose operations the queue provides.
inline xs_level_t max_level(const HwQueue& hw) {
  if (hw.ops == nullptr || hw.ops->launch == nullptr || hw.ops->sync == nullptr) return XS_LEVEL_AUTO;
  if (hw.ops->deactivate == nullptr || hw.ops->reactivate == nullptr) return XS_LEVEL_BLOCK;
  if (hw.ops->interrupt == nullptr || hw.ops->restore == nullptr) return XS_LEVEL_DEACTIVATE;
  return XS_LEVEL_INTERRUPT;
}

}  // namespace xsched
