// What a process's agent takes from xschedd, each thing checked before use:
// the Welcome and the board that comes with it, the decisions and the
// heartbeat the daemon writes on the board, and hint changes. Nothing a
// daemon sends or writes may stop the program: a board that could lose pages
// under the mapping is refused before it is mapped, and every value read is
// bounded before arithmetic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "ipc/board.h"
#include "ipc/protocol.h"
#include "sched/local_scheduler.h"

namespace xsched::ipc {

// Whether `reply` (with `fds` descriptors) is a Welcome this agent can take;
// *out gets it.
bool welcome_fits(const Frame& reply, std::size_t fds, Welcome* out);

// Why a daemon did not welcome the process, for its log: the text of its
// error reply (say, over its user's limit), printable (printable_text), or
// "unexpected reply".
std::string refusal_reason(const Frame& reply);

// Why the board descriptor `fd` is not fit to map, or nullptr if it is: its
// size must be sizeof(Board) and its seals kBoardSeals (the daemon's), so
// that no one can shrink it under the process's mapping.
const char* board_fd_problem(int fd);

// The longest heartbeat a daemon's Welcome may claim; a longer one counts as
// this (a daemon never buys more than a minute of silence).
constexpr int64_t kMaxHeartbeatNs = 20'000'000'000;

// The silence after which the daemon is lost: the configured timeout, but
// never less than three of the daemon's heartbeats.
int64_t daemon_timeout_ns(int64_t configured_ns, int64_t heartbeat_ns);

// Whether the daemon's heartbeat `beat` (read from the board before the
// clock read `now`) is older than timeout_ns. One from the future by more
// than that is no stamp of this host's clock either: late too.
bool heartbeat_late(int64_t beat, int64_t now, int64_t timeout_ns);

// The slots the agent reads: [0, slots_in_use(b)).
uint32_t slots_in_use(const Board& b);

// A decision as the daemon wrote it in a slot.
struct SlotDecision {
  uint64_t queue = 0;  // the queue_id it is for
  bool run = true;
  bool bounded = true;
  int64_t cause_ns = 0;
  int64_t decided_ns = 0;
  int64_t stored_ns = 0;  // 0: not stored in the gate word
};

// The slot's decision when it is new since *seen, whole (a seqlock: odd
// while the daemon writes; one read while it changed is dropped, and the
// daemon's ring after its writes brings it back) and for the queue in the
// slot now. *seen moves on to every whole decision read.
bool read_decision(const BoardSlot& s, uint64_t* seen, SlotDecision* out);

// Records the decision's latency, from its cause to its taking effect (the
// daemon's store in the gate word, else `now`), in the board's sample ring
// (for `xsched top` and the benchmark).
void record_sample(Board& b, uint32_t slot, const SlotDecision& d, bool by_store, int64_t now);

// A hint change from the daemon, as the scheduler takes it.
HintsOverride hints_from_daemon(const HintsChange& h);

}  // namespace xsched::ipc
