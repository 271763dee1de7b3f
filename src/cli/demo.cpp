#include "cli/demo.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cli/demo_device.h"
#include "cli/options.h"
#include "cli/stats.h"
#include "cli/workload.h"

namespace xsched::cli {
namespace {

// Above this much steal the demo warns that its timings are unreliable.
constexpr double kNoisySteal = 0.06;

struct DemoOptions {
  double seconds = 3.0;
  std::string json_path;  // empty: none
  std::string device = "auto";  // auto, cpu, gpu
};

// Parses the options; -1 to go on, or the exit status.
int parse(int argc, char** argv, DemoOptions* o) {
  Options opt("demo", "usage: xsched demo [--seconds S] [--json FILE] [--device auto|cpu|gpu]\n",
              "Runs a high-priority task (a request of 10 x 0.5 ms kernels every 20 ms) beside a\n"
              "low-priority task that runs 1 ms kernels non-stop, on the first CUDA GPU when there is\n"
              "one (kernels that fill the GPU) or else on one execution unit of the CPU reference\n"
              "device: high alone, both without scheduling, and both under xsched's priority policy\n"
              "at each level the device has.");
  std::string seconds, json;
  opt.add_text("--device", &o->device, "D", "auto (a GPU if there is one, else the CPU device), cpu or gpu");
  opt.add_text("--seconds", &seconds, "S", "measured time per scenario (0.2..600, default 3)");
  opt.add_text("--json", &json, "FILE", "also write every latency sample and the summary as JSON");
  const int r = opt.parse(argc, argv);
  if (r >= 0) return r;
  if (opt.app().count("--seconds") != 0) {
    char* end = nullptr;
    errno = 0;
    o->seconds = std::strtod(seconds.c_str(), &end);
    if (errno != 0 || end == seconds.c_str() || *end != '\0' || !(o->seconds >= 0.2 && o->seconds <= 600)) {
      return opt.fail("--seconds wants a number from 0.2 to 600, not '" + seconds + "'");
    }
  }
  if (opt.app().count("--json") != 0) o->json_path = json;
  if (o->device != "auto" && o->device != "cpu" && o->device != "gpu") {
    return opt.fail("--device wants auto, cpu or gpu, not '" + o->device + "'");
  }
  return -1;
}

struct Row {
  Scenario scenario;
  ScenarioResult result;
};

void write_json(const char* path, const std::string& device, const std::vector<Row>& rows, const HighTask& h,
                const LowTask& l, double seconds) {
  FILE* f = std::fopen(path, "w");
  if (f == nullptr) {
    std::fprintf(stderr, "xsched demo: cannot write %s: %s\n", path, std::strerror(errno));
    return;
  }
  std::fprintf(f, "{\n  \"device\": \"%s\",\n  \"seconds_per_scenario\": %.3f,\n", device.c_str(), seconds);
  std::fprintf(f, "  \"high\": {\"kernels\": %d, \"kernel_ns\": %lld, \"period_ns\": %lld},\n", h.kernels,
               static_cast<long long>(h.kernel_ns), static_cast<long long>(h.period_ns));
  std::fprintf(f, "  \"low\": {\"kernel_ns\": %lld},\n  \"scenarios\": [\n", static_cast<long long>(l.kernel_ns));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const ScenarioResult& r = rows[i].result;
    std::fprintf(f, "    {\"name\": \"%s\", \"high_p50_ms\": %.4f, \"high_p99_ms\": %.4f, \"low_kernels_per_s\": %.2f, "
                    "\"low_use_of_idle\": %.4f, \"steal\": %.4f, \"high_latency_ms\": [",
                 rows[i].scenario.name.c_str(), percentile(r.high_latency_ms, 50), percentile(r.high_latency_ms, 99),
                 r.elapsed_s > 0 ? static_cast<double>(r.low_kernels) / r.elapsed_s : 0.0, r.low_use_of_idle(), r.steal);
    for (std::size_t j = 0; j < r.high_latency_ms.size(); ++j) {
      std::fprintf(f, "%s%.4f", j ? ", " : "", r.high_latency_ms[j]);
    }
    std::fprintf(f, "]}%s\n", i + 1 < rows.size() ? "," : "");
  }
  std::fprintf(f, "  ]\n}\n");
  std::fclose(f);
}

// One line of the table, printed as soon as the scenario is done.
void print_row(const Row& row, double alone_p50, double alone_p99) {
  const ScenarioResult& r = row.result;
  const double p50 = percentile(r.high_latency_ms, 50);
  const double p99 = percentile(r.high_latency_ms, 99);
  std::printf("%-28s %7.2f ms %7.2f ms %8.2fx %8.2fx", row.scenario.name.c_str(), p50, p99, p50 / alone_p50,
              p99 / alone_p99);
  if (row.scenario.low) {
    std::printf(" %12.0f %9.0f%%", static_cast<double>(r.low_kernels) / r.elapsed_s, 100 * r.low_use_of_idle());
  } else {
    std::printf(" %12s %10s", "-", "-");
  }
  if (r.steal >= 0) {
    std::printf(" %5.1f%%\n", 100 * r.steal);
  } else {
    std::printf(" %6s\n", "?");
  }
  std::fflush(stdout);
}

}  // namespace

int demo_main(int argc, char** argv) {
  DemoOptions opt;
  if (const int r = parse(argc, argv, &opt); r >= 0) return r;
  const HighTask high;
  const LowTask low;

  // A GPU when there is one (or asked for), else the CPU reference device.
  std::unique_ptr<DemoDevice> dev;
  std::string no_gpu;
  if (opt.device != "cpu") dev = cuda_demo_device(&no_gpu);
  if (dev == nullptr && opt.device == "gpu") {
    std::fprintf(stderr, "xsched demo: no GPU to run on (%s)\n", no_gpu.c_str());
    return 1;
  }
  if (dev == nullptr) dev = host_demo_device();
  std::vector<Row> rows;
  for (Row row : {Row{{.name = "high alone", .low = false}, {}},
                  Row{{.name = "both, no scheduling", .policy = XS_POLICY_NONE, .window = 1024}, {}},
                  Row{{.name = "xsched, level 1 (window 4)", .level = XS_LEVEL_BLOCK, .window = 4}, {}},
                  Row{{.name = "xsched, level 2", .level = XS_LEVEL_DEACTIVATE}, {}},
                  Row{{.name = "xsched, level 3", .level = XS_LEVEL_INTERRUPT}, {}}}) {
    if (row.scenario.level <= dev->max_level()) rows.push_back(row);
  }
  std::printf("xsched demo on %s%s\n", dev->describe().c_str(),
              no_gpu.empty() || opt.device == "cpu" ? "" : (" (no GPU: " + no_gpu + ")").c_str());
  std::printf("high: %d x %.1f ms kernels every %.0f ms, priority %d; low: %.1f ms kernels non-stop, priority %d\n",
              high.kernels, high.kernel_ns / 1e6, high.period_ns / 1e6, high.priority, low.kernel_ns / 1e6,
              low.priority);
  std::printf("%zu scenarios of %.1f s; each row appears when its scenario is done\n\n", rows.size(), opt.seconds);
  std::printf("%-28s %10s %10s %8s %8s %12s %10s %6s\n", "scenario", "high p50", "high p99", "p50/alone", "p99/alone",
              "low kern/s", "low idle", "steal");
  std::fflush(stdout);

  double alone_p50 = 0, alone_p99 = 0, worst_steal = 0;
  for (Row& row : rows) {
    row.result = run_scenario(*dev, row.scenario, high, low, opt.seconds);
    if (row.result.error != XS_OK) {
      std::fprintf(stderr, "xsched demo: scenario '%s' failed: %s\n", row.scenario.name.c_str(),
                   xs_result_string(row.result.error));
      return 1;
    }
    if (&row == &rows[0]) {
      alone_p50 = percentile(row.result.high_latency_ms, 50);
      alone_p99 = percentile(row.result.high_latency_ms, 99);
    }
    print_row(row, alone_p50, alone_p99);
    worst_steal = std::max(worst_steal, row.result.steal);
  }
  std::printf("\nlow idle: share of the device time the high task leaves idle that the low task used\n");
  std::printf("steal: CPU time the hypervisor took from this machine during the scenario\n");
  if (worst_steal > kNoisySteal) {
    std::printf("warning: the hypervisor took up to %.0f%% of the CPU time; threads woke late and the latencies\n"
                "above measure the host as much as xsched. Run again when the machine is quieter.\n",
                100 * worst_steal);
  }
  if (!opt.json_path.empty()) write_json(opt.json_path.c_str(), dev->describe(), rows, high, low, opt.seconds);
  return 0;
}

}  // namespace xsched::cli
