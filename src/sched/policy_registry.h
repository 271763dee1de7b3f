// The registry of policies, in the manner of ggml's backend registry or
// Linux's list of sched_classes: one row per policy, expanded from the one
// list in core/policy_list.h (kind, name, description) and joined with each
// policy's factory, make_<name>_policy, which the policy defines in its own
// file. make_policy and every tool that names policies read it; what a
// policy decides and which queues it may hold are its own hooks (Policy).
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "core/policy_list.h"
#include "sched/policy.h"

namespace xsched {

struct PolicyClass {
  xs_policy_t kind;
  const char* name;
  const char* description;
  // The policy, for a scheduler whose timeslice is default_timeslice_ns
  // where a queue's hints name none.
  std::unique_ptr<Policy> (*make)(int64_t default_timeslice_ns);
};

// Every policy, in the enum's order (rows[i].kind == i).
std::span<const PolicyClass> policy_classes();
// The row of a kind, nullptr for a value that is none (checked as an
// integer: a C caller may pass anything).
const PolicyClass* find_policy_class(const xs_policy_t& kind);

// Each policy's factory, declared from the list so that a policy's file
// that defines its own is checked against it.
#define XSCHED_POLICY_FACTORY(kind, name, description) \
  std::unique_ptr<Policy> make_##name##_policy(int64_t default_timeslice_ns);
XSCHED_POLICIES(XSCHED_POLICY_FACTORY)
#undef XSCHED_POLICY_FACTORY

}  // namespace xsched
