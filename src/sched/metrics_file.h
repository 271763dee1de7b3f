// The process's queues as Prometheus metrics in a file, for node_exporter's
// textfile collector, in processes that no daemon serves metrics for:
// XSCHED_METRICS_FILE=PATH ("%p" becomes the process id) is written every
// XSCHED_METRICS_INTERVAL_MS by a thread of its own ("xsched-metrics"), and
// once more at exit. Each write goes to PATH.tmp.<pid> in the same directory
// and is renamed over PATH, so a reader never sees half a file. The metrics
// are xschedd's (core/metrics_text.h), with pid and comm labels on all.
//
// Unset, nothing runs. Nothing here is on a command's path: a write reads
// each queue's counters under the scheduler's lock, as a query does. A file
// that cannot be written is said once in the log, not at every interval.
#pragma once

#include <string>

#include "sched/local_scheduler.h"

namespace xsched::metrics_file {

// Starts writing if XSCHED_METRICS_FILE names a file; once per process. s
// (the process's scheduler) must live until the process exits.
void start_from_config(const LocalScheduler& s);
// Writes the file now (also done every interval and at exit). False if it
// could not, or if no file is written.
bool flush();

// What the file holds for s's queues (pid and comm: this process's).
std::string render(const LocalScheduler& s);
// Writes text to PATH.tmp.<pid> and renames it over path. False, with
// errno, if it could not (the temporary file is removed then).
bool write_atomically(const std::string& path, const std::string& text);

}  // namespace xsched::metrics_file
