// `xsched demo`: a high-priority task arriving periodically beside a
// low-priority task running non-stop, shown side by side without and with
// xsched.
#pragma once

namespace xsched::cli {

// argv holds the arguments after "demo". Returns the process exit code.
int demo_main(int argc, char** argv);

}  // namespace xsched::cli
