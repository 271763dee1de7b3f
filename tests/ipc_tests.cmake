# The control plane's pieces that need no daemon running: message framing, sockets and
# the daemon's settings.
xsched_test(ipc_protocol_test SOURCES ipc_protocol_test.cpp LIBS xsched_ipc)
xsched_test(daemon_options_test SOURCES daemon_options_test.cpp LIBS xsched_daemon)
xsched_test(unix_socket_test SOURCES unix_socket_test.cpp LIBS xsched_ipc Threads::Threads)

# A program's agent against a fake daemon that hands it bad boards.
xsched_test(agent_board_test SOURCES agent_board_test.cpp LIBS xsched_ipc xsched_core)
target_compile_definitions(agent_board_test PRIVATE DAEMON_CLIENT_PATH="$<TARGET_FILE:daemon_client_prog>")
add_dependencies(agent_board_test daemon_client_prog)
set_tests_properties(agent_board_test PROPERTIES TIMEOUT 120)

# The default socket: one rule for xschedd, the command line and the agent.
xsched_test(socket_path_test SOURCES socket_path_test.cpp LIBS xsched_ipc)
target_compile_definitions(socket_path_test PRIVATE XSCHEDD_PATH="$<TARGET_FILE:xschedd>"
  XSCHED_CLI_PATH="$<TARGET_FILE:xsched_cli>")
add_dependencies(socket_path_test xschedd xsched_cli)
set_tests_properties(socket_path_test PROPERTIES TIMEOUT 120)

# xschedd as deployed: the systemd unit, and the socket's directory (parts need root).
xsched_test(daemon_deploy_test SOURCES daemon_deploy_test.cpp LIBS xsched_daemon)
# The unit as an install to CMAKE_INSTALL_PREFIX writes it (dist/systemd/xschedd.service.in).
target_compile_definitions(daemon_deploy_test PRIVATE XSCHEDD_PATH="$<TARGET_FILE:xschedd>"
  XSCHED_UNIT_PATH="${XSCHED_CONFIGURED_UNIT}"
  XSCHED_UNIT_XSCHEDD="${CMAKE_INSTALL_FULL_BINDIR}/xschedd")
add_dependencies(daemon_deploy_test xschedd)
set_tests_properties(daemon_deploy_test PROPERTIES TIMEOUT 120)

# xschedd's socket and its directory as the Daemon class opens them, without the program.
xsched_test(daemon_socket_test SOURCES daemon_socket_test.cpp LIBS xsched_daemon)

# What xschedd reads from others: bounded reads (also the fuzz target's regressions).
xsched_test(daemon_input_test SOURCES daemon_input_test.cpp LIBS xsched_daemon)

# What an agent takes from a daemon: bounded reads (also the fuzz targets' regressions).
xsched_test(agent_input_test SOURCES agent_input_test.cpp LIBS xsched_agent)
