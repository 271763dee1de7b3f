// What xschedd reads from others, checked: a connection's message and a
// process's board slot. Plain functions over bytes and structs, with no
// Daemon behind them, so that a fuzzer can call them as the daemon does.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/device_id.h"
#include "ipc/board.h"
#include "ipc/protocol.h"
#include "xsched/xsched.h"

namespace xsched::daemon {

// A connection's message, its payload checked against its row of
// XSCHED_DAEMON_REQUESTS (ipc/protocol.h).
struct Request {
  ipc::MsgType type{};
  // A type the daemon takes from this sender, with a payload its row allows.
  bool ok = false;
  std::size_t size = 0;  // payload bytes: 0, or sizeof the row's Payload
  alignas(8) std::array<std::byte, ipc::kLargestRequest> bytes{};

  // The payload as T (the row's Payload), or null when it was empty.
  template <class T>
  const T* payload(T* out) const {
    static_assert(std::is_trivially_copyable_v<T>);
    if (size == 0 || size != sizeof(T)) return nullptr;
    std::memcpy(out, bytes.data(), sizeof(T));
    return out;
  }
};

// `agent`: the connection registered, and may send nothing but its gate pages.
Request parse_request(const ipc::Frame& f, bool agent);

// A gate word a board slot names: page 1..gates::kMaxPages, index within the
// page; page 0: none (or one out of range).
struct GateRef {
  uint32_t page = 0;
  uint32_t index = 0;
};

// How far back from the daemon's clock a slot's time of change is believed.
constexpr int64_t kMaxCauseAgeNs = 10'000'000'000;

// One board slot as the agent wrote it, every value bounded.
struct SlotReading {
  uint64_t queue_id = 0;  // 0: the slot is free (the rest is not read)
  bool ready = false;
  xs_hints_t hints{0, 1, 0, 0};
  uint32_t level = 0;
  uint32_t platform = 0;
  int32_t device = -1;
  DeviceId device_id;  // any 16 bytes name a device: nothing to bound
  DeviceName device_name{};  // terminated here; printed only through printable_text / json_text
  uint64_t submitted = 0;
  uint64_t completed = 0;
  // When the process saw the change: within (now - kMaxCauseAgeNs, now], else
  // `now` (a clock that claims the future or the distant past is not believed).
  int64_t cause_ns = 0;
  GateRef gate;
};

// now: the daemon's steady clock (daemon.cpp).
SlotReading read_board_slot(const ipc::BoardSlot& b, int64_t now);
GateRef read_gate_ref(const ipc::BoardSlot& b);

}  // namespace xsched::daemon
