// A free list of commands for one XQueue. It grows by chunks and never
// shrinks while the queue lives, so a queue in steady state allocates nothing
// per command. Not thread-safe: the owning queue serialises access.
#pragma once

#include <memory>
#include <new>
#include <vector>

#include "core/command.h"

namespace xsched {

class CommandPool {
 public:
  static constexpr std::size_t kChunk = 64;

  // A copy of what the submitter set in from, with the queue's own fields
  // at their defaults; nullptr when host memory ran out. Every submit takes
  // one: a copy, not a reset and then a copy.
  Command* acquire(const Command& from) {
    if (free_ == nullptr && !grow()) return nullptr;
    Command* c = free_;
    free_ = c->next;
    *c = from;
    c->seq = 0;
    c->sync_point = false;
    c->preemptible = true;
    c->next = nullptr;
    return c;
  }

  void release(Command* c) {
    c->next = free_;
    free_ = c;
  }

 private:
  bool grow() {
    std::unique_ptr<Command[]> chunk(new (std::nothrow) Command[kChunk]);
    if (!chunk) return false;
    try {
      chunks_.push_back(std::move(chunk));
    } catch (const std::bad_alloc&) {
      return false;
    }
    Command* c = chunks_.back().get();
    for (std::size_t i = 0; i < kChunk; ++i) release(&c[i]);
    return true;
  }

  Command* free_ = nullptr;
  std::vector<std::unique_ptr<Command[]>> chunks_;
};

// An intrusive FIFO over Command::next.
class CommandFifo {
 public:
  bool empty() const { return head_ == nullptr; }
  std::size_t size() const { return size_; }
  Command* front() const { return head_; }
  Command* back() const { return tail_; }

  void push(Command* c) {
    c->next = nullptr;
    if (tail_ != nullptr) tail_->next = c; else head_ = c;
    tail_ = c;
    ++size_;
  }

  Command* pop() {
    Command* c = head_;
    head_ = c->next;
    if (head_ == nullptr) tail_ = nullptr;
    c->next = nullptr;
    --size_;
    return c;
  }

 private:
  Command* head_ = nullptr;
  Command* tail_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace xsched
