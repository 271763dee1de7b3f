// Gate words: the 32-bit words that Level 2 gates wait on, kept in pages of
// shared memory so that xschedd can close and open a gate with one store.
//
// A page is a sealed memfd (it cannot shrink under a process that maps it),
// made by the process and handed to xschedd by the agent. Each word is one
// gate; a device waits until the word is at least kOpenFrom (CUDA:
// cuStreamWaitValue32 GEQ; the CPU reference device reads it before a
// stream's next command). Its bits:
//
//   kForcedOpen   the process forces it open (ForcedOpen around calls that
//                 wait for every stream, an expedited run, exit)
//   kNotHeld      the process does not hold it (its own scheduler's hold)
//   kDaemonRuns   xschedd lets it run (only xschedd writes this bit after a grant)
//   kIgnoreDaemon the process does not let xschedd hold it
//
// so it is open when forced open, or when neither the process nor (where
// granted) xschedd holds it. The process keeps every veto: it grants a word
// to xschedd only while attached, within the context's safe number of held
// gates, and takes every grant back when xschedd is lost. Both sides change
// their own bits with atomic read-modify-writes, never the other's.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/external_hold.h"

namespace xsched::gates {

constexpr uint32_t kIgnoreDaemon = 1;
constexpr uint32_t kDaemonRuns = 2;
constexpr uint32_t kNotHeld = 4;
constexpr uint32_t kForcedOpen = 8;
constexpr uint32_t kOpenFrom = kNotHeld | kIgnoreDaemon;
constexpr uint32_t kWordsPerPage = 1024;
constexpr std::size_t kPageBytes = kWordsPerPage * sizeof(uint32_t);
constexpr uint32_t kMaxPages = 256;  // per process (one per CUDA context made); page ids are 1..kMaxPages

constexpr bool is_open(uint32_t word) { return word >= kOpenFrom; }

struct Page;
struct Word;

bool held_by_daemon(const Word& w);
void run_through(Word& w, bool on);
bool follow_daemon(Word& w, bool run, bool stored);

// One gate; set by acquire_word. The hold xschedd may place with its own
// stores, as the XQueue sees it (core/external_hold.h).
struct Word final : ExternalHold {
  Page* page = nullptr;
  uint32_t index = 0;
  bool valid() const { return page != nullptr; }

  bool held() const override { return held_by_daemon(*this); }
  void run_through(bool on) override { gates::run_through(*this, on); }
  bool follow(bool run, bool stored) override { return follow_daemon(*this, run, stored); }
};

// Called once for a new page, before any of its words is handed out, with the
// page's memory: returns false if the page cannot serve (a device that cannot
// map it); *device gets what the device waits on for word 0.
using PageInit = bool (*)(void* arg, uint32_t* words, uint64_t* device);

// A word of owner's page (one per owner and init, made on first use by
// init), open. limit: at most
// this many words of the page held (by the process or xschedd) at once; once
// more than limit of its words were used (note_used), no new hold and no
// grant (those granted are taken back; holds already made stay until let
// go). False when no page could be made or it is full.
bool acquire_word(const void* owner, uint32_t limit, PageInit init, void* init_arg, Word* out);
// The owner's done with it; it is left open.
void release_word(Word& w);
// What the device waits on for w (init's device address, plus the offset).
uint64_t device_address(const Word& w);
// The word itself (for a device that reads it on the host).
const uint32_t* host_address(const Word& w);

// The process's hold: false, holding nothing, when over the page's limit.
bool hold(Word& w);
void let_go(Word& w);
// w's queue launched work (once).
void note_used(Word& w);
// While on, w is forced open whatever holds it (an expedited run).
void run_through(Word& w, bool on);
// Whether xschedd holds w now (granted and its bit cleared): one load.
bool held_by_daemon(const Word& w);

// ---- xschedd's side, for the agent and the process scheduler ----
// xschedd decided about w's queue: lets xschedd hold w from now on (a
// grant; not past the page's limit), and sets its bit as decided unless
// `stored`, the daemon having stored it itself. Returns whether w was
// granted before: whether the daemon's own store was the decision's effect.
bool follow_daemon(Word& w, bool run, bool stored);
// Takes every grant back (xschedd was lost): its holds open at once.
void revoke_all();
// Page ids are 1..page_count(). fd: the page's memfd (-1 when the page is not
// shareable); false for an unknown or dead page.
uint32_t page_count();
bool page_fd(uint32_t id, int* fd);
uint32_t page_id(const Word& w);

// Keeps every word open while it lives (nests; any thread).
class ForcedOpen {
 public:
  ForcedOpen();
  ~ForcedOpen();
  ForcedOpen(const ForcedOpen&) = delete;
  ForcedOpen& operator=(const ForcedOpen&) = delete;
};

// owner is gone (a destroyed CUDA context): its pages are never handed out again.
void retire(const void* owner);
// Whether any word was ever handed out.
bool in_use();

}  // namespace xsched::gates
