// The control plane's messages: the Unix socket between xschedd and the
// processes it schedules (their agents) or the xsched command line.
//
// A message is a Header and `size` bytes of payload, one fixed struct per
// type (or, for replies that list things, a fixed head and fixed records).
// Both ends are on one host, so structs travel in host byte order; the magic
// and the version in Hello make a mismatch an error, not garbage. Everything
// read is checked before use: a wrong magic, an unknown type, a payload
// whose size does not match its type, or one over kMaxPayload ends the
// connection, never the reader.
//
// The latency-critical path (readiness, decisions) does not use messages: it
// goes through the shared board (board.h).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/hint_limits.h"

namespace xsched::ipc {

constexpr uint32_t kMagic = 0x31445358;  // "XSD1"
constexpr uint32_t kVersion = 4;  // 4: the board and the list carry each queue's device identity
constexpr uint32_t kMaxPayload = 1u << 20;

// The message types come from the lists at the end of this file.
enum class MsgType : uint16_t;

struct Header {
  uint32_t magic;
  uint16_t type;
  uint16_t reserved;
  uint32_t size;  // payload bytes
};

struct Hello {
  uint32_t version;
  uint32_t reserved;
};

struct Welcome {
  uint32_t version;
  uint32_t slots;          // queue slots on the board
  uint64_t board_bytes;    // size of the board mapping
  int64_t heartbeat_ns;    // the daemon stamps the board at least this often (more often in fact)
  uint32_t process_id;     // the daemon's number for this process (its pid)
  uint32_t reserved;
};

// Which hint fields a HintsChange sets: the C API's XS_HINT_* bits (core/hint_limits.h).
enum HintField : uint32_t {
  kHintPriority = XS_HINT_PRIORITY,
  kHintShare = XS_HINT_SHARE,
  kHintDeadline = XS_HINT_DEADLINE,
  kHintAll = kProcessHintFields,
};

// From the command line: target is a process (pid != 0, queue == 0) or one
// queue (queue != 0, the daemon's queue number). To an agent: `queue` is the
// process's own XQueue id, 0 for the whole process (also queues it makes later).
struct HintsChange {
  uint32_t pid;
  uint32_t fields;  // HintField bits
  uint64_t queue;
  int32_t priority;
  uint32_t share;
  int64_t deadline_ns;
  // Command line -> daemon: 1: every queue of the device below (of `pid` only, if given). The
  // daemon sends the agents one change per queue.
  uint32_t one_device;
  uint8_t device_uuid[16];
};

struct PolicyMsg {
  uint32_t policy;          // xs_policy_t
  uint32_t one_device;      // 1: only the device named below (its scheduling domain); 0: every device
  uint8_t device_uuid[16];  // with one_device: the device's identity (core/device_id.h)
};

struct ErrorMsg {
  int32_t code;  // an errno value
  char text[244];  // NUL-terminated
};

struct ListHead {
  uint32_t processes;
  uint32_t queues;
  uint32_t policy;
  uint32_t reserved;
};

struct ProcessRecord {
  uint32_t pid;
  uint32_t uid;
  char name[16];  // /proc/<pid>/comm, NUL-terminated
  int64_t registered_ns;  // steady clock of the daemon's host
  uint32_t queues;
  uint32_t reserved;
};

// Queue states as the daemon sees them.
enum QueueState : uint32_t { kStateIdle = 0, kStateReady = 1 };

struct QueueRecord {
  uint64_t id;        // the daemon's queue number (for `xsched set --queue`)
  uint64_t local_id;  // the XQueue id inside its process
  uint32_t pid;
  int32_t device;     // -1: unknown
  uint32_t platform;  // xs_platform_t, 0: unknown
  uint32_t level;     // xs_level_t in use
  uint32_t ready;     // 1: has work
  uint32_t running;   // 0: the daemon holds it
  int32_t priority;
  uint32_t share;
  int64_t deadline_ns;
  uint64_t suspensions;    // holds the daemon applied
  int64_t latency_p50_ns;  // recent decision latency (-1: none yet)
  int64_t latency_p99_ns;
  uint64_t submitted;
  uint64_t completed;
  uint8_t device_uuid[16];  // the device's identity (core/device_id.h); all zero: unknown
  char device_name[32];     // its name, NUL-terminated, as the queue's process gave it (untrusted)
};

// A page of the process's gate words, for the daemon to map: the queues'
// board slots name their words by (page id, index).
struct GatePage {
  uint32_t id;     // 1..gates::kMaxPages
  uint32_t bytes;  // gates::kPageBytes
};

struct SamplesRequest {
  uint32_t clear;  // 1: forget the samples after replying
  uint32_t reserved;
};

struct SamplesHead {
  uint32_t count;
  uint32_t reserved;
};

// One decision, from its cause (a queue's change reached the board, or the
// daemon's timer) to its taking effect: the daemon's store in the target
// queue's gate word, or else the target's agent having applied it.
struct Sample {
  int64_t latency_ns;
  uint32_t pid;       // of the target
  uint32_t kind;      // 1: suspend, 2: resume
  uint64_t queue;     // the daemon's queue number of the target
  int64_t daemon_ns;  // of latency_ns, from the cause to the daemon's decision
  uint32_t by;        // 1: the agent applied it, 2: the daemon's store in the gate word
  uint32_t reserved;
};

// The payload of a message that has none.
struct NoPayload {};

// ---- the messages, each declared once ----
//
// What the daemon takes: X(Name, number, from, payload, Payload, handler)
//   Name      MsgType::k<Name>
//   number    its type on the wire (never reused)
//   from      who may send it: kUnregistered (a connection before it said Hello:
//             the command line, or an agent's first message) or kAgent (a registered process)
//   payload   kEmpty, kOne (exactly one Payload), kEmptyOrOne
//   Payload   the struct (NoPayload for none)
//   handler   the Daemon member that serves it: void handler(Client&, const Payload*),
//             the pointer null when the payload was empty (daemon.h declares them from this list)
// The daemon answers the command line with one of the messages below, or
// kError; an agent's kGatePage has no answer.
#define XSCHED_DAEMON_REQUESTS(X)                                          \
  X(Hello, 1, kUnregistered, kOne, Hello, on_hello)                        \
  X(Hints, 3, kUnregistered, kOne, HintsChange, on_hints)                  \
  X(List, 4, kUnregistered, kEmpty, NoPayload, on_list)                    \
  X(GetPolicy, 6, kUnregistered, kEmptyOrOne, PolicyMsg, on_get_policy)    \
  X(SetPolicy, 7, kUnregistered, kOne, PolicyMsg, on_set_policy)           \
  X(Samples, 11, kUnregistered, kOne, SamplesRequest, on_samples)          \
  X(GatePage, 13, kAgent, kOne, GatePage, on_gate_page)

// What the daemon sends: X(Name, number, what it carries). kHints above also
// goes from the daemon to an agent, as one HintsChange.
#define XSCHED_DAEMON_MESSAGES(X)                                                         \
  X(Welcome, 2, "Welcome, with the board and the doorbells as fds: the answer to Hello")  \
  X(ListReply, 5, "ListHead, ProcessRecord[], QueueRecord[]: the answer to List")         \
  X(PolicyReply, 8, "PolicyMsg: the answer to GetPolicy and SetPolicy")                   \
  X(Error, 9, "ErrorMsg: a request refused")                                              \
  X(Ok, 10, "no payload: a request done")                                                 \
  X(SamplesReply, 12, "SamplesHead, Sample[]: the answer to Samples")

enum class MsgType : uint16_t {
#define XSCHED_REQUEST_TYPE(Name, number, ...) k##Name = number,
#define XSCHED_MESSAGE_TYPE(Name, number, what) k##Name = number,
  XSCHED_DAEMON_REQUESTS(XSCHED_REQUEST_TYPE) XSCHED_DAEMON_MESSAGES(XSCHED_MESSAGE_TYPE)
#undef XSCHED_REQUEST_TYPE
#undef XSCHED_MESSAGE_TYPE
};

// Who may send a request (the `from` column).
enum class Sender { kUnregistered, kAgent };
using enum Sender;
// Its payload (the `payload` column).
enum class PayloadRule { kEmpty, kOne, kEmptyOrOne };
using enum PayloadRule;

// Whether t is a message of either list.
bool known_type(uint16_t t);
// Its name ("Hello"), or "unknown".
const char* message_name(MsgType t);

// The largest payload of a request: a request the daemon took fits in this many bytes.
constexpr std::size_t kLargestRequest = std::max({
#define XSCHED_REQUEST_SIZE(Name, number, from, payload, Payload, handler) sizeof(Payload),
    XSCHED_DAEMON_REQUESTS(XSCHED_REQUEST_SIZE)
#undef XSCHED_REQUEST_SIZE
});

static_assert(std::is_trivially_copyable_v<Header> && sizeof(Header) == 12);

// ---- framing ----

// Appends the bytes of one message (header and payload) to *out.
void append_message(MsgType type, std::span<const std::byte> payload, std::vector<std::byte>* out);
// The bytes of one message, replacing what *out held.
void encode(MsgType type, std::span<const std::byte> payload, std::vector<std::byte>* out);

template <class T>
std::span<const std::byte> bytes_of(const T& v) {
  static_assert(std::is_trivially_copyable_v<T>);
  return {reinterpret_cast<const std::byte*>(&v), sizeof v};
}

template <class T>
void append(std::vector<std::byte>* out, const T& v) {
  const auto b = bytes_of(v);
  out->insert(out->end(), b.begin(), b.end());
}

struct Frame {
  MsgType type;
  std::span<const std::byte> payload;  // valid until the reader is fed again
};

// Cuts a byte stream into frames. A stream that breaks the rules (wrong
// magic, unknown type, a size over kMaxPayload) stays broken.
class FrameReader {
 public:
  enum class Status { kFrame, kNeedMore, kBad };

  // Appends received bytes. Fails (kBad) if the buffer would exceed one
  // message of the largest size.
  Status feed(std::span<const std::byte> bytes);
  // The next complete frame, if any.
  Status next(Frame* out);
  // Bytes received and not handed out yet (a partial frame, or frames not taken).
  std::size_t buffered() const { return buf_.size() - start_; }

 private:
  std::vector<std::byte> buf_;
  std::size_t start_ = 0;  // first byte not yet handed out
  bool bad_ = false;
};

// A payload of exactly one T.
template <class T>
bool read_exact(std::span<const std::byte> payload, T* out) {
  static_assert(std::is_trivially_copyable_v<T>);
  if (payload.size() != sizeof(T)) return false;
  std::memcpy(out, payload.data(), sizeof(T));
  return true;
}

// A payload of one Head then head_count(head) Records, nothing more.
template <class Head, class Record, class CountFn>
bool read_records(std::span<const std::byte> payload, Head* head, std::vector<Record>* records, CountFn head_count) {
  if (payload.size() < sizeof(Head)) return false;
  std::memcpy(head, payload.data(), sizeof(Head));
  const uint64_t n = head_count(*head);
  if (n > (payload.size() - sizeof(Head)) / sizeof(Record)) return false;
  if (sizeof(Head) + n * sizeof(Record) != payload.size()) return false;
  records->resize(n);
  if (n != 0) std::memcpy(records->data(), payload.data() + sizeof(Head), n * sizeof(Record));
  return true;
}

// A ListReply: processes then queues.
bool read_list(std::span<const std::byte> payload, ListHead* head, std::vector<ProcessRecord>* procs,
               std::vector<QueueRecord>* queues);

// Copies s into a fixed char array, NUL-terminated, cut to fit.
template <std::size_t N>
void copy_text(char (&dst)[N], const char* s) {
  std::size_t i = 0;
  for (; s != nullptr && s[i] != '\0' && i + 1 < N; ++i) dst[i] = s[i];
  for (; i < N; ++i) dst[i] = '\0';
}

// The text of a fixed char array that may lack its NUL.
template <std::size_t N>
std::size_t text_length(const char (&s)[N]) {
  std::size_t i = 0;
  while (i < N && s[i] != '\0') ++i;
  return i;
}

// Text another process chose (a process name) made safe for a terminal or a
// log line: printable ASCII stays, a backslash doubles, and every other byte
// (control characters, the escape that starts a terminal sequence, DEL, bytes
// past ASCII) becomes \xNN. The command line's tables and xschedd's log both
// print names through it; JSON output escapes by its own rules.
std::string printable_text(std::string_view s);

}  // namespace xsched::ipc
