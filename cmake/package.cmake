# `cpack -G DEB` in a build folder: one package, xsched, for /usr, holding what
# cmake/install.cmake installs (xsched, xschedd, libxsched.so.0, the interposer
# where it was built, headers, xsched.pc, the CMake package, the systemd unit,
# /etc/xsched/xschedd.conf, the Python package, the docs) and the maintainer
# scripts of dist/debian. docs/install.md says how to build and install it.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME xsched)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(XSCHED_PACKAGE_MAINTAINER "xsched maintainers <xsched@invalid>" CACHE STRING
    "The Maintainer field of the Debian package")
set(CPACK_PACKAGE_CONTACT "${XSCHED_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "preemptive GPU scheduler: priorities and shares for CUDA programs")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"preemptive GPU scheduler: priorities and shares for CUDA programs
 xsched schedules the CUDA streams of unmodified programs (xsched run) by
 priority, bandwidth share or deadline, within a process and, with the
 xschedd daemon, across every process of a host. This package holds the
 xsched command line, the xschedd daemon and its systemd unit, the CUDA
 interposer, the C API (libxsched.so.0) with its headers, pkg-config and
 CMake files, and the Python package.")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # xsched_<version>_<arch>.deb
# Debian installs to /usr; DESTDIR staging lets the install code see /usr as
# its prefix (the unit and xsched.pc name /usr paths, the config goes to /etc).
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
# Depends from the programs' libraries (dpkg-shlibdeps, Debian's dpkg-dev);
# groupadd (passwd) for the postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "python3, systemd")
# Maintainer scripts and control files. No generated shlibs: CPack's would
# also list the interposer under its SONAME, libcuda.so.1.
set(XSCHED_DEBIAN_DIR ${PROJECT_BINARY_DIR}/debian)
configure_file(${PROJECT_SOURCE_DIR}/dist/debian/shlibs.in ${XSCHED_DEBIAN_DIR}/shlibs @ONLY)
foreach(f postinst prerm postrm conffiles triggers)
  configure_file(${PROJECT_SOURCE_DIR}/dist/debian/${f} ${XSCHED_DEBIAN_DIR}/${f} COPYONLY)
endforeach()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${XSCHED_DEBIAN_DIR}/postinst ${XSCHED_DEBIAN_DIR}/prerm ${XSCHED_DEBIAN_DIR}/postrm
    ${XSCHED_DEBIAN_DIR}/conffiles ${XSCHED_DEBIAN_DIR}/triggers ${XSCHED_DEBIAN_DIR}/shlibs)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
