// What the command line knows of xschedd: the connection (a request, its
// reply or its error), the listing it takes (processes, queues, devices) and
// how a listing prints as a table or as JSON. Shared by the commands of
// control.cpp (list, top, set, policy, samples).
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/options.h"
#include "core/device_id.h"
#include "ipc/protocol.h"

namespace xsched::cli {

using namespace ipc;

// The longest one exchange with the daemon (connect and request, or one
// request of `top`) may take: a stopped daemon must not hang the command.
constexpr int kTimeoutMs = 5000;

// Options every control command takes.
struct Common {
  std::string socket;  // empty: XSCHED_SOCKET or the default
  bool json = false;
};

void add_common(Options& opt, Common* c, bool json = true);

// A connection to the daemon, or a clear message and exit status 1.
struct Link {
  int fd = -1;
  std::string path;
  FrameReader reader;
  // The first request shares the connect's time; each later one (`top`) has its own.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  ~Link() {
    if (fd >= 0) close(fd);
  }
};

bool open_link(const Common& c, const char* cmd, Link* link);

// One request; prints the daemon's error and returns false if it refused.
bool request(Link& link, const char* cmd, MsgType type, std::span<const std::byte> payload, MsgType want, Frame* reply);

using Json = nlohmann::ordered_json;

// The daemon's number, checked before it becomes an xs_policy_t.
const char* policy_name(uint32_t p);

const char* state_of(const QueueRecord& q);

std::string micros(int64_t ns);

// Microseconds to one decimal, or null for "none yet" (negative).
Json micros_json(int64_t ns);

// The daemon's registered_ns is its host's steady clock (CLOCK_MONOTONIC);
// the command line runs on the same host.
int64_t steady_now_ns();

// Commands completed per second since the process registered.
double rate(uint64_t completed, int64_t registered_ns, int64_t now_ns);

std::string rate_text(double r);

// A process's full command line, from /proc/<pid>/cmdline (its arguments
// separated by spaces), or its 16-byte name where that cannot be read (gone,
// another PID namespace, a kernel thread).
std::string cmdline_of(uint32_t pid, std::string_view name);

struct Snapshot {
  ListHead head{};
  std::vector<ProcessRecord> procs;
  std::vector<QueueRecord> queues;
  int64_t now_ns = 0;  // when it was taken
};

bool fetch(Link& link, const char* cmd, Snapshot* s);

DeviceId device_of(const QueueRecord& q);

// One device as the daemon sees it: its scheduling domain's queues.
struct DeviceSummary {
  DeviceId id;
  uint32_t platform = 0;
  int32_t ordinal = -1;  // as its first queue's process numbers it
  std::string name;      // as its first queue's process gave it (untrusted)
  uint32_t queues = 0, ready = 0, held = 0;
};

// Per device, in the order of each device's first queue.
std::vector<DeviceSummary> devices_of(const Snapshot& s);

const ProcessRecord* process_of(const Snapshot& s, uint32_t pid);

// The queue's commands completed per second since its process registered.
double queue_rate(const Snapshot& s, const QueueRecord& q);

double process_rate(const Snapshot& s, const ProcessRecord& p);

Json to_json(const Snapshot& s);

// A process's name as the table shows it: the process chose it, so it may
// hold terminal escapes.
std::string name_of(const ProcessRecord* p);

void print_queue_row(const Snapshot& s, const QueueRecord& q);

void print_table(const Snapshot& s);


// JSON text, bytes that are not UTF-8 replaced (U+FFFD).
std::string dump(const Json& j);
// A process's name as it sent it (16 bytes at most).
std::string raw_name(const ProcessRecord& p);
// The listing as JSON, printed.
void print_json(const Snapshot& s);

}  // namespace xsched::cli
