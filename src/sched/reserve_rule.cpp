#include "sched/reserve_rule.h"

#include <algorithm>

namespace xsched {

ReserveRule::Entry* ReserveRule::find(uint64_t id) {
  for (Entry& e : entries_) {
    if (e.id == id) return &e;
  }
  return nullptr;
}

void ReserveRule::add(uint64_t id, int32_t priority, bool ready, int64_t now_ns) {
  if (find(id) == nullptr) {
    entries_.push_back(Entry{id, priority, 0, 0});
    dirty_ = true;  // a newcomer may be confined by what is already there
  }
  update(id, priority, ready, now_ns);
}

void ReserveRule::remove(uint64_t id) {
  std::erase_if(entries_, [id](const Entry& e) { return e.id == id; });
  dirty_ = true;  // what it confined is free again
}

void ReserveRule::update(uint64_t id, int32_t priority, bool ready, int64_t now_ns) {
  Entry* e = find(id);
  if (e == nullptr) return;
  int64_t active = e->active_until;
  if (ready) {
    active = kForever;
  } else if (active == kForever) {
    active = now_ns > kForever - linger_ns_ ? kForever - 1 : now_ns + linger_ns_;
  }
  if (active == e->active_until && priority == e->priority) return;
  e->active_until = active;
  e->priority = priority;
  dirty_ = true;
}

int64_t ReserveRule::confined_until(int32_t priority) const {
  int64_t until = 0;
  for (const Entry& e : entries_) {
    if (e.priority > priority) until = std::max(until, e.active_until);
  }
  return until;
}

}  // namespace xsched
