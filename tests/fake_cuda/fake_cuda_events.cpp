// Events: a record is an operation of a stream; a query, synchronize or wait
// uses the latest record made before it, and an event never recorded is complete.

#include "fake_cuda_internal.h"

namespace fake_cuda {

CUresult find_event(CUevent e, std::shared_ptr<Event>& out) {
  Registry& r = reg();
  std::lock_guard lk(r.m);
  auto it = r.events.find(e);
  if (it == r.events.end()) return CUDA_ERROR_INVALID_HANDLE;
  out = it->second;
  return CUDA_SUCCESS;
}

std::shared_ptr<Record> last_record(Event& ev) {
  std::lock_guard lk(ev.m);
  return ev.last;
}

CUresult record_on(Event& ev, const std::shared_ptr<Stream>& s, std::vector<Dep> deps) {
  auto rec = std::make_shared<Record>();
  rec->s = s;
  Op op;
  op.op = FAKE_OP_EVENT_RECORD;
  op.name = "event_record";
  op.value = static_cast<long long>(ev.id);
  op.deps = std::move(deps);
  op.run = [rec] { rec->time_ns.store(now_ns()); };
  u64 seq = 0;
  if (CUresult err = enqueue(s, std::move(op), &seq); err != CUDA_SUCCESS) return err;
  rec->seq = seq;
  std::lock_guard lk(ev.m);
  ev.last = std::move(rec);
  return CUDA_SUCCESS;
}

namespace {

bool record_done(const Record& rec) {
  std::lock_guard lk(rec.s->m);
  return rec.s->completed >= rec.seq;
}

CUresult event_record(CUevent e, CUstream h, unsigned flags, bool ptsz) {
  if ((flags & ~static_cast<unsigned>(CU_EVENT_RECORD_EXTERNAL)) != 0) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Event> ev;
  if (CUresult err = find_event(e, ev); err != CUDA_SUCCESS) return err;
  std::shared_ptr<Stream> s;
  if (CUresult err = resolve(h, ptsz, s); err != CUDA_SUCCESS) return err;
  return record_on(*ev, s, {});
}

CUresult stream_wait_event(CUstream h, CUevent e, unsigned flags, bool ptsz) {
  if ((flags & ~static_cast<unsigned>(CU_EVENT_WAIT_EXTERNAL)) != 0) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Event> ev;
  if (CUresult err = find_event(e, ev); err != CUDA_SUCCESS) return err;
  std::shared_ptr<Stream> s;
  if (CUresult err = resolve(h, ptsz, s); err != CUDA_SUCCESS) return err;
  Op op;
  op.op = FAKE_OP_EVENT_WAIT;
  op.name = "event_wait";
  op.value = static_cast<long long>(ev->id);
  if (auto rec = last_record(*ev)) op.deps.push_back({rec->s, rec->seq});  // the latest record, now
  return enqueue(s, std::move(op));
}

CUresult elapsed_time(float* ms, CUevent start, CUevent end) {
  if (ms == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<Event> a, b;
  if (CUresult e = find_event(start, a); e != CUDA_SUCCESS) return e;
  if (CUresult e = find_event(end, b); e != CUDA_SUCCESS) return e;
  if (((a->flags | b->flags) & CU_EVENT_DISABLE_TIMING) != 0) return CUDA_ERROR_INVALID_HANDLE;
  auto ra = last_record(*a);
  auto rb = last_record(*b);
  if (!ra || !rb) return CUDA_ERROR_INVALID_HANDLE;
  if (!record_done(*ra) || !record_done(*rb)) return CUDA_ERROR_NOT_READY;
  const double d = static_cast<double>(static_cast<long long>(rb->time_ns.load() - ra->time_ns.load()));
  *ms = static_cast<float>(d / 1e6);
  return CUDA_SUCCESS;
}

}  // namespace

}  // namespace fake_cuda

using namespace fake_cuda;  // the driver's internals, for the entry points below

FAKE_EXPORT CUresult CUDAAPI cuEventCreate(CUevent* phEvent, unsigned int Flags) {
  FAKE_ENTRY_INIT();
  constexpr unsigned kAll = CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS;
  if (phEvent == nullptr || (Flags & ~kAll) != 0) return CUDA_ERROR_INVALID_VALUE;
  if ((Flags & CU_EVENT_INTERPROCESS) != 0 && (Flags & CU_EVENT_DISABLE_TIMING) == 0) return CUDA_ERROR_INVALID_VALUE;
  Context* c = nullptr;
  if (CUresult e = need_ctx(c); e != CUDA_SUCCESS) return e;
  Registry& r = reg();
  auto ev = std::make_shared<Event>();
  ev->id = r.next_id.fetch_add(1);
  ev->ctx = c;
  ev->flags = Flags;
  const auto h = reinterpret_cast<CUevent>(ev.get());
  std::lock_guard lk(r.m);
  r.events[h] = std::move(ev);
  *phEvent = h;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuEventDestroy_v2(CUevent hEvent) {
  FAKE_ENTRY_INIT();
  std::shared_ptr<Event> ev;  // released outside the lock
  Registry& r = reg();
  std::lock_guard lk(r.m);
  auto it = r.events.find(hEvent);
  if (it == r.events.end()) return CUDA_ERROR_INVALID_HANDLE;
  ev = std::move(it->second);
  r.events.erase(it);
  return CUDA_SUCCESS;  // pending records still complete
}

FAKE_EXPORT CUresult CUDAAPI cuEventRecord(CUevent hEvent, CUstream hStream)
    FAKE_BODY(event_record(hEvent, hStream, 0, false))
FAKE_EXPORT CUresult CUDAAPI cuEventRecord_ptsz(CUevent hEvent, CUstream hStream)
    FAKE_BODY(event_record(hEvent, hStream, 0, true))
FAKE_EXPORT CUresult CUDAAPI cuEventRecordWithFlags(CUevent hEvent, CUstream hStream, unsigned int flags)
    FAKE_BODY(event_record(hEvent, hStream, flags, false))
FAKE_EXPORT CUresult CUDAAPI cuEventRecordWithFlags_ptsz(CUevent hEvent, CUstream hStream, unsigned int flags)
    FAKE_BODY(event_record(hEvent, hStream, flags, true))

FAKE_EXPORT CUresult CUDAAPI cuEventQuery(CUevent hEvent) {
  FAKE_ENTRY_INIT();
  std::shared_ptr<Event> ev;
  if (CUresult e = find_event(hEvent, ev); e != CUDA_SUCCESS) return e;
  auto rec = last_record(*ev);
  return !rec || record_done(*rec) ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

FAKE_EXPORT CUresult CUDAAPI cuEventSynchronize(CUevent hEvent) {
  FAKE_ENTRY_INIT();
  std::shared_ptr<Event> ev;
  if (CUresult e = find_event(hEvent, ev); e != CUDA_SUCCESS) return e;
  if (auto rec = last_record(*ev)) wait_seq(*rec->s, rec->seq);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult CUDAAPI cuEventElapsedTime(float* pMilliseconds, CUevent hStart, CUevent hEnd)
    FAKE_BODY(elapsed_time(pMilliseconds, hStart, hEnd))
FAKE_EXPORT CUresult CUDAAPI cuEventElapsedTime_v2(float* pMilliseconds, CUevent hStart, CUevent hEnd)
    FAKE_BODY(elapsed_time(pMilliseconds, hStart, hEnd))

FAKE_EXPORT CUresult CUDAAPI cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags)
    FAKE_BODY(stream_wait_event(hStream, hEvent, Flags, false))
FAKE_EXPORT CUresult CUDAAPI cuStreamWaitEvent_ptsz(CUstream hStream, CUevent hEvent, unsigned int Flags)
    FAKE_BODY(stream_wait_event(hStream, hEvent, Flags, true))
