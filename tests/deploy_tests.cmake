# Containers and Kubernetes (dist/container, dist/kubernetes, dist/cdi; docs/containers.md,
# docs/kubernetes.md):
#
#   deploy_files_test   the manifests, the CDI spec and the Containerfile's context, parsed
#                       and checked (PyYAML, python3-yaml); the DaemonSet's arguments and the
#                       ConfigMap as the built xschedd reads them, the example pods' variables
#                       against src/core/config.cpp's table and their options as xsched run
#                       takes them
#   pidns_test          SO_PEERCRED across PID namespaces: xschedd sees a containerised
#                       program by its host PID from the host's namespace, and programs
#                       outside its own namespace as pid 0 (skipped, 77, where unshare --pid
#                       cannot run)
#   container_test      podman builds the image and runs it; skipped (77) without podman or
#                       without the base image present locally (nothing is pulled), and in
#                       sanitizer builds
set(_xs_deploy_python "${XSCHED_TEST_PYTHON}")
if(EXISTS /usr/bin/python3)
  set(_xs_deploy_python /usr/bin/python3)  # Debian's, with python3-yaml
endif()
add_test(NAME deploy_files_test COMMAND ${_xs_deploy_python} ${CMAKE_CURRENT_SOURCE_DIR}/deploy_files_test.py
         ${PROJECT_SOURCE_DIR} $<TARGET_FILE:xsched_cli> $<TARGET_FILE:xschedd>)
add_test(NAME pidns_test COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/pidns_test.sh $<TARGET_FILE:xschedd>
         $<TARGET_FILE:xsched_cli> $<TARGET_FILE:daemon_client_prog>)
if(CMAKE_CXX_FLAGS MATCHES "-fsanitize=")
  add_test(NAME container_test COMMAND sh -c "echo 'skipped: sanitizer build: the image is built in the release preset'; exit 77")
else()
  add_test(NAME container_test COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/container_test.sh ${PROJECT_BINARY_DIR}
           ${PROJECT_SOURCE_DIR})
endif()
set_tests_properties(deploy_files_test pidns_test container_test PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
