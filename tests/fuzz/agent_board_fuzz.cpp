// A process's agent reading a board that xschedd wrote, as its thread does on
// each ring: the heartbeat, the slots in use, each slot's decision, and the
// latency sample of a decision it applies. The daemon may write anything
// there. Input: the board's head, the agent's clock, its timeout and its
// Welcome's heartbeat, then any number of (slot index, slot bytes, what the
// agent had seen, whether the decision took effect by the daemon's store).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>

#include "fuzz_input.h"
#include "ipc/agent_input.h"
#include "ipc/board.h"

namespace {

struct BoardHead {
  uint32_t magic;
  uint32_t slots;
  int64_t heartbeat_ns;
  uint32_t slots_used;
  uint32_t reserved;
  uint64_t changes;
  uint64_t samples_written;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xsched::ipc;
  static Board* const board = new Board();
  static uint64_t seen[kBoardSlots];
  xsched::fuzz::FuzzInput in(data, size);

  const BoardHead head = in.take<BoardHead>();
  board->magic = head.magic;
  board->slots = head.slots;
  board->heartbeat_ns.store(head.heartbeat_ns);
  board->slots_used.store(head.slots_used);
  board->changes.store(head.changes);
  board->samples_written.store(head.samples_written);
  const int64_t now = in.take<int64_t>();
  const int64_t configured_ns = in.take<int64_t>();
  const int64_t welcome_heartbeat_ns = in.take<int64_t>();

  const int64_t timeout_ns = daemon_timeout_ns(configured_ns, welcome_heartbeat_ns);
  (void)heartbeat_late(board->heartbeat_ns.load(), now, timeout_ns);
  const uint32_t used = slots_in_use(*board);
  if (used > kBoardSlots) __builtin_trap();

  while (!in.empty()) {
    const uint32_t i = in.take<uint8_t>() % kBoardSlots;
    in.copy_to(&board->slot[i], sizeof(BoardSlot));
    seen[i] = in.take<uint64_t>();
    const bool by_store = (in.take<uint8_t>() & 1) != 0;
    if (i >= used) continue;
    SlotDecision d;
    const uint64_t before = seen[i];
    if (!read_decision(board->slot[i], &seen[i], &d)) continue;
    // Taken only when new, whole, and for the queue in the slot.
    if (d.queue == 0 || seen[i] == before || (seen[i] & 1) != 0) __builtin_trap();
    record_sample(*board, i, d, by_store, now);
  }
  return 0;
}
