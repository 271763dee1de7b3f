// The commands of `xsched`, one row each: X(name, entry, summary). main.cpp
// dispatches from this list and `xsched help` prints it; the bash completion
// (dist/completion/xsched.bash) reads the commands from that help. A new
// command: its entry function, int entry(int argc, char** argv) taking the
// arguments after its name, declared in a header included by main.cpp, and
// one row here.
#pragma once

#define XSCHED_COMMANDS(X)                                                                                        \
  X(run, run_main, "run a CUDA program with its streams scheduled: xsched run [options] -- program args")         \
  X(demo, demo_main, "a high-priority task beside a non-stop low-priority one, without and with xsched")          \
  X(list, list_main, "the processes and queues xschedd schedules (--json)")                                        \
  X(top, top_main, "a live view of them")                                                                          \
  X(set, set_main, "change a running program's or queue's priority, share or deadline")                          \
  X(policy, policy_main, "show or switch xschedd's policy")                                                        \
  X(samples, samples_main, "the decision latencies xschedd measured (--summary)")                                \
  X(version, version_main, "print the version (also --version)")                                                  \
  X(help, help_main, "print this text, or with a command's name that command's help")
