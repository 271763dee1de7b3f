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

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace xsched::ipc {

constexpr uint32_t kMagic = 0x31445358;  // "XSD1"
constexpr uint32_t kVersion = 4;  // 4: the board and the list carry each queue's device identity
constexpr uint32_t kMaxPayload = 1u << 20;

enum class MsgType : uint16_t {
  kHello = 1,        // agent -> daemon: register this process (Hello)
  kWelcome = 2,      // daemon -> agent: Welcome, with the board and doorbells as fds
  kHints = 3,        // command line -> daemon, then daemon -> agent: HintsChange
  kList = 4,         // command line -> daemon: no payload
  kListReply = 5,    // daemon -> command line: ListHead, ProcessRecord[], QueueRecord[]
  kGetPolicy = 6,    // command line -> daemon: no payload (the default policy), or a PolicyMsg naming one device
  kSetPolicy = 7,    // command line -> daemon: PolicyMsg
  kPolicyReply = 8,  // daemon -> command line: PolicyMsg
  kError = 9,        // daemon -> command line: ErrorMsg
  kOk = 10,          // daemon -> command line: no payload
  kSamples = 11,     // command line -> daemon: SamplesRequest
  kSamplesReply = 12,  // daemon -> command line: SamplesHead, Sample[]
  kGatePage = 13,    // agent -> daemon: GatePage, with the page's memfd (core/gate_words.h)
};

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

// Which hint fields a HintsChange sets.
enum HintField : uint32_t { kHintPriority = 1u, kHintShare = 2u, kHintDeadline = 4u, kHintAll = 7u };

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
