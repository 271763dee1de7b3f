# The files of an install that name absolute paths, written for the prefix
# installed to: at configure time (the build tree's copy of the unit) and at
# install time (cmake/install.cmake's install(CODE), where CMAKE_INSTALL_PREFIX
# is `cmake --install --prefix P`'s P, or /usr under cpack).
include_guard(GLOBAL)

# <sysconfdir> of a prefix: /etc for /usr (and /), PREFIX/etc otherwise. xschedd
# applies the same rule to its own location (daemon::installed_config_path).
function(xsched_sysconfdir prefix out)
  string(REGEX REPLACE "/+$" "" p "${prefix}")
  if(p STREQUAL "" OR p STREQUAL "/usr")
    set(${out} "/etc" PARENT_SCOPE)
  else()
    set(${out} "${p}/etc" PARENT_SCOPE)
  endif()
endfunction()

function(_xsched_under prefix dir out)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    string(REGEX REPLACE "/+$" "" p "${prefix}")
    set(${out} "${p}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

# dist/systemd/xschedd.service.in -> output, naming the programs and docs under prefix.
function(xsched_configure_unit prefix bindir docdir output)
  _xsched_under("${prefix}" "${bindir}" XSCHED_UNIT_BINDIR)
  _xsched_under("${prefix}" "${docdir}" XSCHED_UNIT_DOCDIR)
  xsched_sysconfdir("${prefix}" XSCHED_UNIT_SYSCONFDIR)
  configure_file("${CMAKE_CURRENT_FUNCTION_LIST_DIR}/../dist/systemd/xschedd.service.in" "${output}" @ONLY)
endfunction()

# Install time: the unit, xsched.pc, and the config file where there is none.
function(xsched_install_generated_files prefix)
  string(REGEX REPLACE "/+$" "" prefix "${prefix}")
  # A folder per destination: two installs at once (the install and package tests) do not share one.
  string(MD5 key "$ENV{DESTDIR}|${prefix}")
  set(staging "${XSCHED_STAGING_DIR}/${key}")

  xsched_configure_unit("${prefix}" "${XSCHED_BINDIR}" "${XSCHED_DOCDIR}" "${staging}/xschedd.service")
  file(INSTALL DESTINATION "${prefix}/lib/systemd/system" TYPE FILE FILES "${staging}/xschedd.service")

  _xsched_under("${prefix}" "${XSCHED_LIBDIR}" PC_LIBDIR)
  _xsched_under("${prefix}" "${XSCHED_INCLUDEDIR}" PC_INCLUDEDIR)
  if(NOT IS_ABSOLUTE "${XSCHED_LIBDIR}")
    set(PC_LIBDIR "\${prefix}/${XSCHED_LIBDIR}")
  endif()
  if(NOT IS_ABSOLUTE "${XSCHED_INCLUDEDIR}")
    set(PC_INCLUDEDIR "\${prefix}/${XSCHED_INCLUDEDIR}")
  endif()
  set(PC_PREFIX "${prefix}")
  configure_file("${XSCHED_SOURCE_DIR}/cmake/xsched.pc.in" "${staging}/xsched.pc" @ONLY)
  _xsched_under("${prefix}" "${XSCHED_LIBDIR}" libdir)
  file(INSTALL DESTINATION "${libdir}/pkgconfig" TYPE FILE FILES "${staging}/xsched.pc")

  # xschedd reads <sysconfdir>/xsched/xschedd.conf when present: a commented
  # one is installed where there is none, and one already there is kept.
  xsched_sysconfdir("${prefix}" sysconfdir)
  if(EXISTS "$ENV{DESTDIR}${sysconfdir}/xsched/xschedd.conf")
    message(STATUS "Keeping: $ENV{DESTDIR}${sysconfdir}/xsched/xschedd.conf")
  else()
    file(INSTALL DESTINATION "${sysconfdir}/xsched" TYPE FILE FILES "${XSCHED_SOURCE_DIR}/dist/xschedd.conf")
  endif()
endfunction()
