#include "ipc/protocol.h"

#include <algorithm>
#include <iterator>

namespace xsched::ipc {
namespace {

// Two rows with one number would make two messages one.
constexpr bool numbers_distinct() {
  constexpr uint16_t numbers[] = {
#define XSCHED_NUMBER(Name, number, ...) number,
      XSCHED_DAEMON_REQUESTS(XSCHED_NUMBER) XSCHED_DAEMON_MESSAGES(XSCHED_NUMBER)
#undef XSCHED_NUMBER
  };
  for (std::size_t i = 0; i < std::size(numbers); ++i) {
    if (numbers[i] == 0) return false;  // 0 is no type
    for (std::size_t j = i + 1; j < std::size(numbers); ++j) {
      if (numbers[i] == numbers[j]) return false;
    }
  }
  return true;
}
static_assert(numbers_distinct(), "two messages share a number (protocol.h)");

}  // namespace

bool known_type(uint16_t t) {
  switch (static_cast<MsgType>(t)) {
#define XSCHED_KNOWN(Name, number, ...) case MsgType::k##Name:
    XSCHED_DAEMON_REQUESTS(XSCHED_KNOWN)
    XSCHED_DAEMON_MESSAGES(XSCHED_KNOWN)
#undef XSCHED_KNOWN
    return true;
  }
  return false;
}

const char* message_name(MsgType t) {
  switch (t) {
#define XSCHED_NAME(Name, number, ...) \
  case MsgType::k##Name:               \
    return #Name;
    XSCHED_DAEMON_REQUESTS(XSCHED_NAME)
    XSCHED_DAEMON_MESSAGES(XSCHED_NAME)
#undef XSCHED_NAME
  }
  return "unknown";
}

void append_message(MsgType type, std::span<const std::byte> payload, std::vector<std::byte>* out) {
  const Header h{kMagic, static_cast<uint16_t>(type), 0, static_cast<uint32_t>(payload.size())};
  // Geometric growth: a connection's queue of replies takes many messages in
  // a row, and reserving exactly what each needs would copy the queue every time.
  const std::size_t need = out->size() + sizeof h + payload.size();
  if (need > out->capacity()) out->reserve(std::max(need, 2 * out->capacity()));
  append(out, h);
  out->insert(out->end(), payload.begin(), payload.end());
}

void encode(MsgType type, std::span<const std::byte> payload, std::vector<std::byte>* out) {
  out->clear();
  append_message(type, payload, out);
}

FrameReader::Status FrameReader::feed(std::span<const std::byte> bytes) {
  if (bad_) return Status::kBad;
  // Drop what was handed out before growing.
  if (start_ != 0) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(start_));
    start_ = 0;
  }
  if (buf_.size() + bytes.size() > sizeof(Header) + kMaxPayload + sizeof(Header)) {
    bad_ = true;
    return Status::kBad;
  }
  buf_.insert(buf_.end(), bytes.begin(), bytes.end());
  return Status::kNeedMore;
}

FrameReader::Status FrameReader::next(Frame* out) {
  if (bad_) return Status::kBad;
  const std::size_t avail = buf_.size() - start_;
  if (avail < sizeof(Header)) return Status::kNeedMore;
  Header h;
  std::memcpy(&h, buf_.data() + start_, sizeof h);
  if (h.magic != kMagic || !known_type(h.type) || h.reserved != 0 || h.size > kMaxPayload) {
    bad_ = true;
    return Status::kBad;
  }
  if (avail - sizeof h < h.size) return Status::kNeedMore;
  out->type = static_cast<MsgType>(h.type);
  out->payload = std::span<const std::byte>(buf_.data() + start_ + sizeof h, h.size);
  start_ += sizeof h + h.size;
  return Status::kFrame;
}

std::string printable_text(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const auto b = static_cast<unsigned char>(ch);
    if (b == '\\') {
      out += "\\\\";
    } else if (b >= 0x20 && b < 0x7f) {
      out += ch;
    } else {
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 0xf];
    }
  }
  return out;
}

bool read_list(std::span<const std::byte> payload, ListHead* head, std::vector<ProcessRecord>* procs,
               std::vector<QueueRecord>* queues) {
  if (payload.size() < sizeof(ListHead)) return false;
  std::memcpy(head, payload.data(), sizeof *head);
  const uint64_t np = head->processes;
  const uint64_t nq = head->queues;
  const uint64_t body = payload.size() - sizeof(ListHead);
  if (np > body / sizeof(ProcessRecord)) return false;
  if (nq > (body - np * sizeof(ProcessRecord)) / sizeof(QueueRecord)) return false;
  if (np * sizeof(ProcessRecord) + nq * sizeof(QueueRecord) != body) return false;
  const std::byte* p = payload.data() + sizeof(ListHead);
  procs->resize(np);
  queues->resize(nq);
  if (np != 0) std::memcpy(procs->data(), p, np * sizeof(ProcessRecord));
  if (nq != 0) std::memcpy(queues->data(), p + np * sizeof(ProcessRecord), nq * sizeof(QueueRecord));
  return true;
}

}  // namespace xsched::ipc
