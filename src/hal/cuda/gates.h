// Level 2 for CUDA: stream-ordered gates.
//
// A gated queue owns one 32-bit gate word (gates/gate_words.h: a page of them
// per context, the process's shared memory registered with the driver) and
// puts cuStreamWaitValue32(word >= kOpenFrom) in its stream before a
// command, or before a group of short ones. Closing the gate is one host
// store, by the process or by xschedd: whatever the stream has not started
// yet stays behind it on the GPU, untouched; opening it lets the stream go
// on. A closed gate stalls only its own stream (measured on H100:
// probes/README.md).
//
// Hazard: some driver calls wait for every stream of their context
// (cuMemFree, cuMemFreeHost, module and library loading, a kernel's lazy
// loading at its first launch). Made while a gate is closed, they would wait
// for the scheduler, which may wait for them: the thread that makes the call
// is often the one whose work keeps the gate closed. A gates::ForcedOpen
// scope (gates/gate_words.h) keeps every gate of the process open for the
// length of such a call, xschedd's holds included.
#pragma once

#include <atomic>
#include <cstdint>

#include "gates/gate_words.h"
#include "hal/cuda/cuda_driver.h"

namespace xsched::cuda {

// One queue's gate; all members are set by acquire_gate.
struct Gate {
  gates::Word word;
  CUdeviceptr device = 0;  // what cuStreamWaitValue32 waits on
  bool used = false;       // its stream has launched work (note_gate_used)
  bool valid() const { return word.valid(); }
};

// A gate in ctx's page (made on first use), open. False when the device or
// driver cannot gate (no host-mapped memory, no cuStreamWaitValue32), or
// every slot is taken: the queue stays at Level 1.
bool acquire_gate(const Driver& d, CUcontext ctx, Gate* out);
// The queue is done with its gate (open by then).
void release_gate(Gate& g);

// Hold / let go: the gate is closed while held, unless a gates::ForcedOpen
// scope is in force.
// hold_gate returns false, holding nothing, when holding it would not be
// safe: the context holds as many gates as it safely can, or has more gated
// streams at work than that (half its hardware connections; gates.cpp says
// why: with too many streams at gates or at work, the others can stall).
bool hold_gate(Gate& g);
void let_go_gate(Gate& g);
// g's stream launches work (called once, at its first launch).
void note_gate_used(Gate& g);

namespace detail {
extern std::atomic<bool> g_cuda_gates;  // set once the first CUDA gate is made
}  // namespace detail

// Whether any gate was ever made: no gate, no hazard. One load: every launch asks.
inline bool gates_in_use() { return detail::g_cuda_gates.load(std::memory_order_acquire); }

// ctx is being destroyed: its page goes with it, so its gates are never
// written again.
void retire_gates(CUcontext ctx);

// Before launching kernel f (a CUfunction, or a CUkernel passed as one) in
// context ctx: makes sure it is loaded, with the gates open while it loads,
// so that lazy loading at launch never waits for a closed gate. Returns true
// if it loaded f now: the driver's loading may leave a barrier on the GPU
// behind everything launched so far in the context, so work held behind
// closed gates must run through (the caller sees to it). Cheap once this
// thread has seen f.
bool load_function_before_launch(const Driver& d, CUfunction f, CUcontext ctx);
// Whether this thread has seen f loaded in ctx / notes that it is.
bool known_loaded(CUfunction f, CUcontext ctx);
void note_loaded(CUfunction f, CUcontext ctx);
// Code was unloaded or a context destroyed: handles may come back for other
// kernels, so what every thread knows as loaded is forgotten.
void forget_loaded_kernels();

}  // namespace xsched::cuda
