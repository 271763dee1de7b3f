# The control plane's pieces that need no daemon running: message framing, sockets and
# the daemon's settings.
xsched_test(ipc_protocol_test SOURCES ipc_protocol_test.cpp LIBS xsched_ipc)
xsched_test(daemon_options_test SOURCES daemon_options_test.cpp LIBS xsched_daemon)
xsched_test(unix_socket_test SOURCES unix_socket_test.cpp LIBS xsched_ipc Threads::Threads)
