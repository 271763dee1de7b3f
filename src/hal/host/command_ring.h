// The CPU reference device's per-stream FIFO of launched commands: a ring
// that grows only when full, so a warm stream launches without allocating.
// Internal to host_device.cpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/command.h"

namespace xsched::host {

// Written under the owning device's lock; atomic because a stream of another
// device may wait on the event and reads both under its own lock.
struct EventState {
  std::atomic<uint64_t> submitted{0};  // generation of the latest prepared record
  std::atomic<uint64_t> completed{0};  // highest generation its streams have reached
};

namespace device_detail {

constexpr std::size_t kInitialSlots = 16;  // a power of two

struct Slot {
  Command* cmd = nullptr;
  // Held from launch so the user may drop the Event while its commands are queued.
  std::shared_ptr<EventState> event;
  // A kernel launched while its stream was confined (Stream::confine): no unit of the reserve runs it.
  bool confined = false;
  // A wait on an event of another device: no record of this device completes
  // it, so idle units look at it now and then (as at a gate word).
  bool foreign = false;
};

// A stream's launched, uncompleted commands. Grows only when full, so a warm
// stream launches without allocating; Command::next belongs to the caller.
class Ring {
 public:
  Ring() : slots_(kInitialSlots) {}
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }
  Slot& front() { return slots_[head_]; }
  const Slot& front() const { return slots_[head_]; }
  // The only allocation of a launch; throws std::bad_alloc.
  void reserve_one() {
    if (size_ == slots_.size()) grow();
  }
  void push(Slot slot) {
    slots_[(head_ + size_) & mask()] = std::move(slot);
    ++size_;
  }
  void pop() {
    slots_[head_] = Slot{};  // drops the event reference now, not when overwritten
    head_ = (head_ + 1) & mask();
    --size_;
  }

 private:
  std::size_t mask() const { return slots_.size() - 1; }
  void grow() {
    std::vector<Slot> bigger(slots_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = std::move(slots_[(head_ + i) & mask()]);
    slots_.swap(bigger);
    head_ = 0;
  }
  std::vector<Slot> slots_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace device_detail
}  // namespace xsched::host
