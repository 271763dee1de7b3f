# The install and the Debian package as users meet them (cmake/install.cmake,
# cmake/package.cmake):
#
#   install_test   cmake --install to a temporary prefix: layout, SONAME and RUNPATH
#                  (readelf), the installed programs (also after moving the tree), xschedd's
#                  PREFIX/etc/xsched/xschedd.conf, a C program built with pkg-config, a CMake
#                  project with find_package(xsched), the Python package in a venv (pip) or
#                  by PYTHONPATH
#   deb_test       cpack -G DEB, unpacked with dpkg -x into a temporary root: control fields,
#                  files, maintainer scripts (sh -n, and run against that root with stand-ins),
#                  the unpacked programs and Python package; skipped (77) without dpkg
#
# Both skip (77) in sanitizer builds: the test programs and python would need the sanitizer's
# runtime to load the installed, sanitized libxsched.so. The release preset runs them.
set(_xs_install_skip "")
if(CMAKE_CXX_FLAGS MATCHES "-fsanitize=")
  set(_xs_install_skip "sanitizer build: the install and package tests run in the release preset")
endif()
# The Python for the venv: one with the venv module (Debian: python3-venv), else any.
set(_xs_install_python "${XSCHED_TEST_PYTHON}")
if(EXISTS /usr/bin/python3)
  set(_xs_install_python /usr/bin/python3)
endif()

foreach(_t install_test deb_test)
  if(_xs_install_skip)
    add_test(NAME ${_t} COMMAND sh -c "echo \"skipped: $1\"; exit 77" sh "${_xs_install_skip}")
  elseif(_t STREQUAL "install_test")
    add_test(NAME ${_t} COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/install_test.sh ${CMAKE_COMMAND} ${PROJECT_BINARY_DIR}
             ${PROJECT_SOURCE_DIR} ${_xs_install_python})
  else()
    add_test(NAME ${_t} COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/deb_test.sh ${CMAKE_CPACK_COMMAND} ${PROJECT_BINARY_DIR}
             ${_xs_install_python})
  endif()
  set_tests_properties(${_t} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()
