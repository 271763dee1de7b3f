// The board: one shared-memory page set per registered process, through
// which queue readiness reaches xschedd and its decisions reach the queues
// without a message round trip. A queue with a gate word the daemon may
// hold (gates/gate_words.h) names it here; the daemon then stores its
// decision in the word itself, and the board only tells the agent.
//
// The daemon creates it (a sealed memfd: the process cannot shrink it under
// the daemon) and hands it to the process's agent with two doorbells, ends
// of datagram socket pairs whose other ends the daemon keeps: the agent rings `to_daemon`
// after it changed a slot, the daemon rings `to_agent` after it decided. Each side writes only its own fields and
// then bumps its sequence number (release); the other side reads the number
// (acquire), then the fields. A reader that catches a half-written slot sees
// a newer number again at the next doorbell, so it converges on the last
// state. The daemon treats everything the agent writes as untrusted input.
#pragma once

#include <fcntl.h>

#include <atomic>
#include <cstdint>

namespace xsched::ipc {

constexpr uint32_t kBoardMagic = 0x44524f42;  // "BORD"
constexpr uint32_t kBoardSlots = 256;          // queues per process
constexpr uint32_t kSampleRing = 1024;         // decision latency samples per process
// The seals of a board's memfd: its size is fixed for good, so neither side's
// mapping can lose pages (a read past the end of a file is SIGBUS).
constexpr int kBoardSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

struct alignas(64) BoardSlot {
  // ---- written by the agent ----
  std::atomic<uint64_t> state_seq;  // bumped after any field below changed
  std::atomic<uint64_t> queue_id;   // the XQueue id; 0: slot free
  std::atomic<uint32_t> ready;
  std::atomic<int32_t> priority;
  std::atomic<uint32_t> share;
  std::atomic<uint32_t> level;
  std::atomic<int64_t> timeslice_ns;
  std::atomic<int64_t> deadline_ns;
  std::atomic<int64_t> changed_ns;  // steady clock when the agent wrote this state
  std::atomic<uint32_t> platform;
  std::atomic<int32_t> device;
  std::atomic<uint64_t> submitted;  // refreshed at each report
  std::atomic<uint64_t> completed;
  std::atomic<uint32_t> gate_page;   // the queue's gate word (GatePage id; 0: none the daemon may hold)
  std::atomic<uint32_t> gate_index;  // its index in the page
  std::atomic<uint64_t> device_uuid[2];  // its device's identity (core/device_id.h), 16 bytes: its scheduling domain
  std::atomic<uint64_t> device_name[4];  // its device's name, 32 bytes, NUL-terminated (the daemon terminates it)

  // ---- written by the daemon ----
  alignas(64) std::atomic<uint64_t> decision_seq;  // odd while the fields below change, even after
  std::atomic<uint64_t> decided_queue;  // the queue_id the decision is for
  std::atomic<uint32_t> run;            // 0: hold the queue
  std::atomic<uint32_t> bounded;        // 1: keep its in-flight window (something may preempt it)
  std::atomic<int64_t> cause_ns;        // steady clock of what caused the decision
  std::atomic<int64_t> decided_ns;      // steady clock when the daemon wrote it
  std::atomic<int64_t> stored_ns;       // steady clock when it stored the decision in the gate word (0: it did not)
};

// A decision as the agent applied it.
struct BoardSample {
  std::atomic<uint64_t> seq;  // the sample's number + 1 once written
  std::atomic<uint32_t> slot;
  std::atomic<uint32_t> kind;  // 1: suspend, 2: resume
  std::atomic<int64_t> latency_ns;
  std::atomic<int64_t> daemon_ns;  // of which from the cause to the daemon's decision
  std::atomic<uint32_t> by;        // as ipc::Sample::by
};

struct Board {
  // ---- written by the daemon ----
  uint32_t magic;
  uint32_t slots;
  std::atomic<int64_t> heartbeat_ns;  // steady clock, stamped every Welcome::heartbeat_ns
  // ---- written by the agent ----
  // Steady clock, stamped at every turn of the agent's loop (at least every
  // 50 ms): a process that stops stamping (stopped, frozen, its agent stuck)
  // cannot run its queues, and the daemon stops letting them hold others.
  std::atomic<int64_t> agent_beat_ns;
  std::atomic<uint32_t> slots_used;   // slots [0, slots_used) may be in use
  std::atomic<uint64_t> changes;      // bumped after any slot's state_seq: a busy-polling daemon watches it
  std::atomic<uint64_t> samples_written;
  BoardSample samples[kSampleRing];
  BoardSlot slot[kBoardSlots];
};

static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<int64_t>::is_always_lock_free &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "the board needs address-free atomics");

}  // namespace xsched::ipc
