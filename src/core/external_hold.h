// A hold that another party may place on a queue and lift by itself, without
// a call into the process: xschedd, with one store into the word a Level-2
// hardware gate waits on (gates/gate_words.h implements it). The hardware
// queue hands one out (HwQueueOps::external_hold); the XQueue asks it whether
// the other party holds the queue, forces it open for an expedited run, and
// passes on the other party's decisions, and knows nothing else of it. Every
// veto stays with the process: the implementation decides what it grants.
#pragma once

namespace xsched {

class ExternalHold {
 public:
  // Whether the other party holds the queue now (one load: asked at submit).
  virtual bool held() const = 0;
  // While on, the queue runs whatever holds it (an expedited run).
  virtual void run_through(bool on) = 0;
  // The other party decided (run, or hold): from now on it may hold the
  // queue itself (within the process's limits), and its decision takes
  // effect unless `stored`, the other party having stored it already.
  // Returns whether the other party's own store was the decision's effect.
  virtual bool follow(bool run, bool stored) = 0;

 protected:
  ~ExternalHold() = default;
};

}  // namespace xsched
