# The control plane's pieces that need no daemon running: message framing and
# the daemon's settings.
xsched_test(ipc_protocol_test SOURCES ipc_protocol_test.cpp LIBS xsched_ipc)
xsched_test(daemon_options_test SOURCES daemon_options_test.cpp LIBS xsched_daemon)
