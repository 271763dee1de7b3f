// The command line's requests: list, hints, policy, samples (their rows: ipc/protocol.h).
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "core/hint_limits.h"
#include "core/log.h"
#include "daemon/daemon.h"
#include "sched/policy.h"

namespace xsched::daemon {

using namespace ipc;

namespace {

int64_t percentile(std::vector<int64_t> v, double p) {
  if (v.empty()) return -1;
  const std::size_t k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// What a change does to the hints of `old` (a target's queues): "priority 0 -> 5,
// share 1 -> 3", old values that differ between queues joined by '/', none: "-".
std::string change_text(const HintsChange& h, const std::vector<xs_hints_t>& old) {
  auto values = [&](auto get) {
    std::vector<int64_t> v;
    for (const xs_hints_t& x : old) {
      if (std::find(v.begin(), v.end(), get(x)) == v.end()) v.push_back(get(x));
    }
    std::string out;
    for (int64_t x : v) out += (out.empty() ? "" : "/") + std::to_string(x);
    return out.empty() ? std::string("-") : out;
  };
  std::string out;
  auto field = [&](uint32_t bit, const char* name, std::string before, int64_t after) {
    if ((h.fields & bit) == 0) return;
    out += (out.empty() ? "" : ", ") + std::string(name) + " " + before + " -> " + std::to_string(after);
  };
  field(kHintPriority, "priority", values([](const xs_hints_t& x) { return int64_t{x.priority}; }), h.priority);
  field(kHintShare, "share", values([](const xs_hints_t& x) { return int64_t{x.share}; }), h.share);
  field(kHintDeadline, "deadline_us", values([](const xs_hints_t& x) { return x.deadline_ns / 1000; }),
        h.deadline_ns / 1000);
  return out;
}

}  // namespace

void Daemon::on_list(Client& c, const NoPayload*) {
  std::vector<ProcessRecord> procs;
  std::vector<QueueRecord> queues;
  for (const auto& [fd, p] : clients_) {
    if (!p->agent || p->fd < 0) continue;
    ProcessRecord r{};
    r.pid = static_cast<uint32_t>(p->cred.pid);
    r.uid = p->cred.uid;
    copy_text(r.name, p->name.c_str());
    r.registered_ns = p->since_ns;
    for (const Slot& s : p->slots) {
      if (s.queue_id == 0) continue;
      ++r.queues;
      QueueRecord q{};
      q.id = s.number;
      q.local_id = s.queue_id;
      q.pid = r.pid;
      q.device = s.device;
      q.platform = s.platform;
      q.level = s.level;
      q.ready = s.ready ? 1 : 0;
      q.running = s.run ? 1 : 0;
      q.priority = s.hints.priority;
      q.share = s.hints.share;
      q.deadline_ns = s.hints.deadline_ns;
      q.suspensions = s.suspensions;
      const std::vector<int64_t> recent(s.recent_ns.begin(), s.recent_ns.end());
      q.latency_p50_ns = percentile(recent, 0.5);
      q.latency_p99_ns = percentile(recent, 0.99);
      q.submitted = s.submitted;
      q.completed = s.completed;
      std::memcpy(q.device_uuid, s.device_id.uuid.data(), sizeof q.device_uuid);
      std::memcpy(q.device_name, s.device_name.data(), sizeof q.device_name);
      queues.push_back(q);
    }
    procs.push_back(r);
  }
  std::sort(procs.begin(), procs.end(), [](const ProcessRecord& a, const ProcessRecord& b) { return a.pid < b.pid; });
  std::sort(queues.begin(), queues.end(), [](const QueueRecord& a, const QueueRecord& b) { return a.id < b.id; });
  // A reply must fit one message: the oldest queues first if not.
  const std::size_t room = (kMaxPayload - sizeof(ListHead) - procs.size() * sizeof(ProcessRecord)) / sizeof(QueueRecord);
  if (queues.size() > room) queues.resize(room);
  ListHead head{static_cast<uint32_t>(procs.size()), static_cast<uint32_t>(queues.size()),
                static_cast<uint32_t>(policy_), 0};
  std::vector<std::byte> payload;
  append(&payload, head);
  for (const ProcessRecord& r : procs) append(&payload, r);
  for (const QueueRecord& q : queues) append(&payload, q);
  reply(c, MsgType::kListReply, payload);
}

void Daemon::on_hints(Client& c, const HintsChange* msg) {
  const HintsChange& h = *msg;
  if (h.fields == 0 || (h.fields & ~static_cast<uint32_t>(kHintAll)) != 0) {
    return reply_error(c, EINVAL, "no hint to change, or an unknown one");
  }
  if ((h.fields & kHintShare) != 0 && !valid_share(h.share)) {
    return reply_error(c, EINVAL, ("share must be in 1.." + std::to_string(kMaxShare)).c_str());
  }
  if ((h.fields & kHintPriority) != 0 && !valid_priority(h.priority)) {
    return reply_error(c, EINVAL, ("priority must be in " + std::to_string(kMinPriority) + ".." +
                                   std::to_string(kMaxPriority)).c_str());
  }
  if ((h.fields & kHintDeadline) != 0 && !valid_deadline(h.deadline_ns)) {
    return reply_error(c, EINVAL, ("deadline must be 0 or in " + std::to_string(kMinDeadlineNs / 1000) + ".." +
                                   std::to_string(kMaxDeadlineNs / 1000) + " us").c_str());
  }
  const bool by_device = h.one_device != 0;
  if (h.queue != 0 ? (h.pid != 0 || by_device) : (h.pid == 0 && !by_device)) {
    return reply_error(c, EINVAL, "name a queue, or a pid and/or a device");
  }
  DeviceId device;
  std::memcpy(device.uuid.data(), h.device_uuid, device.uuid.size());
  // The targets: every registration of the pid, the one queue, or every queue of the device (of the pid).
  std::vector<std::pair<Client*, uint64_t>> targets;  // client, XQueue id (0: the whole process)
  if (by_device) {
    for (const auto& [number, ref] : queues_) {
      const Slot& s = ref.client->slots[ref.slot];
      if (s.device_id != device || (h.pid != 0 && static_cast<uint32_t>(ref.client->cred.pid) != h.pid)) continue;
      targets.emplace_back(ref.client, s.queue_id);
    }
    if (targets.empty()) {
      return reply_error(c, ESRCH, ("no queue of device " + device.text("cuda") + " is registered" +
                                    (h.pid != 0 ? " by pid " + std::to_string(h.pid) : std::string())).c_str());
    }
  } else if (h.queue != 0) {
    auto it = queues_.find(h.queue);
    if (it == queues_.end()) return reply_error(c, ESRCH, ("no queue " + std::to_string(h.queue) + " is registered").c_str());
    targets.emplace_back(it->second.client, it->second.client->slots[it->second.slot].queue_id);
  } else {
    for (auto& [fd, p] : clients_) {
      if (p->agent && p->fd >= 0 && static_cast<uint32_t>(p->cred.pid) == h.pid) targets.emplace_back(p.get(), 0);
    }
    if (targets.empty()) return reply_error(c, ESRCH, ("no process " + std::to_string(h.pid) + " is registered").c_str());
  }
  // Only root changes the hints of another user's process.
  for (const auto& [p, id] : targets) {
    if (c.cred.uid != 0 && c.cred.uid != p->cred.uid) {
      return reply_error(c, EPERM, ("pid " + std::to_string(p->cred.pid) + " belongs to another user").c_str());
    }
  }
  for (const auto& [p, id] : targets) {
    // The values before, for the log: the process's queues, or the one queue.
    std::vector<xs_hints_t> old;
    uint64_t number = 0;
    for (const Slot& s : p->slots) {
      if (s.queue_id == 0 || (id != 0 && s.queue_id != id)) continue;
      old.push_back(s.hints);
      number = s.number;
    }
    HintsChange to_agent = h;
    to_agent.pid = static_cast<uint32_t>(p->cred.pid);
    to_agent.queue = id;
    to_agent.one_device = 0;
    reply(*p, MsgType::kHints, bytes_of(to_agent));
    if (id != 0) {
      log(LogLevel::kInfo, "uid %u changed queue %llu of pid %d: %s", c.cred.uid, static_cast<unsigned long long>(number),
          static_cast<int>(p->cred.pid), change_text(h, old).c_str());
    } else {
      log(LogLevel::kInfo, "uid %u changed pid %d: %s", c.cred.uid, static_cast<int>(p->cred.pid),
          change_text(h, old).c_str());
    }
  }
  reply(c, MsgType::kOk, {});
}

void Daemon::on_get_policy(Client& c, const PolicyMsg* msg) { answer_policy(c, msg, false); }

void Daemon::on_set_policy(Client& c, const PolicyMsg* msg) { answer_policy(c, msg, true); }

void Daemon::answer_policy(Client& c, const PolicyMsg* msg, bool set) {
  DeviceId device;
  const bool one = msg != nullptr && msg->one_device != 0;
  if (one) std::memcpy(device.uuid.data(), msg->device_uuid, device.uuid.size());
  if (set) {
    if (c.cred.uid != 0 && c.cred.uid != geteuid()) return reply_error(c, EPERM, "only root or the daemon's user may switch the policy");
    // make_policy knows every policy there is; a number past the enum is none of them.
    const bool known = msg->policy < static_cast<uint32_t>(XS_POLICY_MAX_ENUM) &&
                       make_policy(static_cast<xs_policy_t>(msg->policy), opts_.timeslice_ns) != nullptr;
    if (!known) return reply_error(c, EINVAL, "unknown policy");
    const auto p = static_cast<xs_policy_t>(msg->policy);
    const xs_policy_t before = one ? policy_of(device) : policy_;
    cause_ns_ = now_ns();
    if (one) {
      // One device's domain; it keeps the policy while it has no queues too.
      device_policy_[device] = p;
      if (auto it = domains_.find(device); it != domains_.end()) {
        engine_ran(*it->second, it->second->engine.set_policy(make_policy(p, opts_.timeslice_ns), cause_ns_));
      }
      log(LogLevel::kInfo, "uid %u switched the policy of device %s: %s -> %s", c.cred.uid,
          device.text("cuda").c_str(), policy_name(before), policy_name(p));
    } else {
      // Every device's domain, each with a policy of its own state.
      policy_ = p;
      device_policy_.clear();
      for (auto& [id, d] : domains_) engine_ran(*d, d->engine.set_policy(make_policy(p, opts_.timeslice_ns), cause_ns_));
      log(LogLevel::kInfo, "uid %u switched the policy: %s -> %s", c.cred.uid, policy_name(before), policy_name(p));
    }
  }
  PolicyMsg r{};
  r.policy = static_cast<uint32_t>(one ? policy_of(device) : policy_);
  r.one_device = one ? 1 : 0;
  std::memcpy(r.device_uuid, device.uuid.data(), sizeof r.device_uuid);
  reply(c, MsgType::kPolicyReply, bytes_of(r));
}

void Daemon::on_samples(Client& c, const SamplesRequest* msg) {
  const SamplesRequest& r = *msg;
  if (r.clear != 0 && c.cred.uid != 0 && c.cred.uid != geteuid()) {
    return reply_error(c, EPERM, "only root or the daemon's user may clear the samples");
  }
  // The newest samples before replying.
  for (auto& [fd, p] : clients_) {
    if (p->board != nullptr) harvest_samples(*p);
  }
  std::vector<std::byte> payload;
  const SamplesHead head{static_cast<uint32_t>(samples_.size()), 0};
  append(&payload, head);
  for (const Sample& s : samples_) append(&payload, s);
  if (r.clear != 0) samples_.clear();
  reply(c, MsgType::kSamplesReply, payload);
}

}  // namespace xsched::daemon
