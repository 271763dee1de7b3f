// The control plane's reading of bytes from the other end, as xschedd and a
// process's agent (and the command line) do it: the input, cut into feeds of
// a size it chooses, goes through a FrameReader; every frame that comes out
// is read as its type's payload reader reads it, and an agent's Welcome and
// hint changes as the agent takes them. Input: one byte (the feed size, 0:
// all at once), then the stream.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_input.h"
#include "ipc/agent_input.h"
#include "ipc/protocol.h"

namespace xsched::ipc {
namespace {

void read_payload(const Frame& f) {
  switch (f.type) {
    case MsgType::kHello: {
      Hello h;
      (void)read_exact(f.payload, &h);
      break;
    }
    case MsgType::kWelcome: {
      Welcome w;
      if (welcome_fits(f, 3, &w)) (void)daemon_timeout_ns(500'000'000, w.heartbeat_ns);
      break;
    }
    case MsgType::kHints: {
      HintsChange h;
      if (read_exact(f.payload, &h)) (void)hints_from_daemon(h);
      break;
    }
    case MsgType::kListReply: {
      ListHead head;
      std::vector<ProcessRecord> procs;
      std::vector<QueueRecord> queues;
      if (read_list(f.payload, &head, &procs, &queues)) {
        for (const ProcessRecord& p : procs) (void)text_length(p.name);
      }
      break;
    }
    case MsgType::kSetPolicy:
    case MsgType::kPolicyReply: {
      PolicyMsg p;
      (void)read_exact(f.payload, &p);
      break;
    }
    case MsgType::kError: {
      ErrorMsg e;
      if (read_exact(f.payload, &e)) (void)text_length(e.text);
      (void)refusal_reason(f);  // what a refused agent logs
      break;
    }
    case MsgType::kSamples: {
      SamplesRequest r;
      (void)read_exact(f.payload, &r);
      break;
    }
    case MsgType::kSamplesReply: {
      SamplesHead head;
      std::vector<Sample> samples;
      (void)read_records(f.payload, &head, &samples, [](const SamplesHead& h) { return h.count; });
      break;
    }
    case MsgType::kGatePage: {
      GatePage g;
      (void)read_exact(f.payload, &g);
      break;
    }
    case MsgType::kList:
    case MsgType::kGetPolicy:
    case MsgType::kOk:
      break;
  }
}

}  // namespace
}  // namespace xsched::ipc

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xsched::ipc;
  xsched::fuzz::FuzzInput in(data, size);
  const std::size_t feed = in.take<uint8_t>();
  FrameReader reader;
  while (!in.empty()) {
    const std::size_t n = feed == 0 || feed > in.left() ? in.left() : feed;
    std::vector<std::byte> chunk(n);
    in.copy_to(chunk.data(), n);
    if (reader.feed(chunk) == FrameReader::Status::kBad) return 0;
    Frame f{};
    FrameReader::Status s;
    while ((s = reader.next(&f)) == FrameReader::Status::kFrame) read_payload(f);
    if (s == FrameReader::Status::kBad) return 0;
  }
  return 0;
}
