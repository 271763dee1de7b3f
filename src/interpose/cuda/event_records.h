// The latest record of each event made through a queue, while the driver
// may not know of it yet (persisted) or, at Level 2, while it has not
// completed (its queue may be held behind a gate), so that queries, waits
// and synchronisations on the event see it.
#pragma once

#include <cstdint>
#include <memory>

#include "interpose/cuda/streams.h"

namespace xsched::interpose {

struct PendingRecord {
  std::shared_ptr<StreamQueue> queue;  // null: none of ours outstanding
  // The queue that made the record, also once it completed (while it is
  // still known): a query that finds it done tells that queue its program
  // has seen its work complete.
  std::shared_ptr<StreamQueue> recorder;
  uint64_t seq = 0;
  bool persisted = false;  // not launched yet: the driver has not seen it
  std::weak_ptr<StreamQueue> capture_root;  // recorded into a stream being captured
};

// Notes that e was last recorded as command seq of q (q null: straight
// through to the driver), while q took part in the capture of capture_root (or null).
void note_event_record(CUevent e, const std::shared_ptr<StreamQueue>& q, uint64_t seq,
                       const std::shared_ptr<StreamQueue>& capture_root);
// The event's latest record if it is outstanding in a queue (queue non-null),
// and its capture origin.
PendingRecord pending_record(CUevent e);
void forget_event(CUevent e);

}  // namespace xsched::interpose
