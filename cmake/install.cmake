# What `cmake --install <build> [--prefix P]` lays out, and `cpack -G DEB` packs
# (cmake/package.cmake). The tree works under any prefix: the programs find
# libxsched.so through a RUNPATH relative to themselves, and `xsched run` the
# interposer the same way. docs/install.md describes the layout.
#
#   P/bin/xsched, xschedd                     RUNPATH $ORIGIN/../<libdir>
#   P/<libdir>/libxsched.so.0 (+ .so.0.2.0, .so)  the C API, SONAME libxsched.so.0
#   P/<libdir>/xsched/libxsched_hip.so        the HIP interposer (LD_PRELOAD)
#   P/<libdir>/xsched/libxsched_cuda.so       the interposer (SONAME libcuda.so.1: kept out
#                                             of the linker's folders, see below)
#   P/<libdir>/pkgconfig/xsched.pc, P/<libdir>/cmake/xsched/  for C and C++ users
#   P/include/xsched/                         the public headers
#   P/lib/systemd/system/xschedd.service      the unit, naming P's paths
#   <sysconfdir>/xsched/xschedd.conf          xschedd's settings (/etc for P = /usr, else
#                                             P/etc), installed only where none is
#   P/lib/python3/dist-packages/xsched/       the Python package
#   P/share/doc/xsched/                       README.md and docs/
#   P/share/man/man1/xsched.1, man8/xschedd.8 the manual pages (dist/man)
#   P/share/bash-completion/completions/xsched  bash completion (dist/completion/xsched.bash)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The libraries' folder as the programs see it (bin -> lib: ../lib; Debian's
# /usr prefix: ../lib/x86_64-linux-gnu).
file(RELATIVE_PATH XSCHED_LIBDIR_FROM_BINDIR "${CMAKE_INSTALL_FULL_BINDIR}" "${CMAKE_INSTALL_FULL_LIBDIR}")
# The interposer's folder: a folder of its own below libdir. Its SONAME is
# libcuda.so.1; in a folder that ldconfig scans (/usr/lib, /usr/local/lib) the
# next ldconfig would link libcuda.so.1 to it, and every CUDA program on the
# host would load the interposer instead of the driver.
set(XSCHED_INSTALL_INTERPOSERDIR "${CMAKE_INSTALL_LIBDIR}/xsched")
set(XSCHED_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/xsched")
set(XSCHED_INSTALL_PYTHONDIR "lib/python3/dist-packages" CACHE STRING
    "Where the Python package goes, below the prefix (Debian's python3 reads /usr/lib/python3/dist-packages)")

# xsched finds libxsched.so.0, and `xsched run` the interposer, relative to itself.
set_target_properties(xsched_cli PROPERTIES INSTALL_RPATH "$ORIGIN/${XSCHED_LIBDIR_FROM_BINDIR}")
set_property(SOURCE src/cli/run.cpp APPEND PROPERTY COMPILE_DEFINITIONS
             XSCHED_INTERPOSER_FROM_BINDIR="${XSCHED_LIBDIR_FROM_BINDIR}/xsched")

install(TARGETS xsched_cli xschedd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS xsched EXPORT xschedTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/xsched DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(TARGET xsched_cuda)
  install(TARGETS xsched_cuda LIBRARY DESTINATION ${XSCHED_INSTALL_INTERPOSERDIR})
endif()
if(TARGET xsched_hip)
  install(TARGETS xsched_hip LIBRARY DESTINATION ${XSCHED_INSTALL_INTERPOSERDIR})
endif()

# find_package(xsched): the imported target xsched::xsched.
install(EXPORT xschedTargets NAMESPACE xsched:: DESTINATION ${XSCHED_INSTALL_CMAKEDIR})
configure_package_config_file(cmake/xschedConfig.cmake.in ${PROJECT_BINARY_DIR}/xschedConfig.cmake
                              INSTALL_DESTINATION ${XSCHED_INSTALL_CMAKEDIR}
                              PATH_VARS CMAKE_INSTALL_BINDIR XSCHED_INSTALL_INTERPOSERDIR)
# The ABI is stable within a SONAME version: 0.x for libxsched.so.0.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/xschedConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/xschedConfig.cmake ${PROJECT_BINARY_DIR}/xschedConfigVersion.cmake
        DESTINATION ${XSCHED_INSTALL_CMAKEDIR})

install(DIRECTORY python/xsched DESTINATION ${XSCHED_INSTALL_PYTHONDIR}
        PATTERN __pycache__ EXCLUDE PATTERN "*.pyc" EXCLUDE)

file(GLOB XSCHED_DOCS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES README.md ${XSCHED_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES dist/man/xsched.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES dist/man/xschedd.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES dist/completion/xsched.bash DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
        RENAME xsched)

# The files that name absolute paths (xsched.pc, the systemd unit) are written
# when installing, for the prefix installed to: `--prefix P` may differ from
# CMAKE_INSTALL_PREFIX. cmake/install_paths.cmake holds the rules.
set(XSCHED_INSTALL_VARS
  "set(XSCHED_SOURCE_DIR \"${PROJECT_SOURCE_DIR}\")
   set(XSCHED_STAGING_DIR \"${PROJECT_BINARY_DIR}/install-files\")
   set(XSCHED_VERSION \"${PROJECT_VERSION}\")
   set(XSCHED_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
   set(XSCHED_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
   set(XSCHED_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
   set(XSCHED_DOCDIR \"${CMAKE_INSTALL_DOCDIR}\")")
install(CODE "${XSCHED_INSTALL_VARS}
  include(\"${PROJECT_SOURCE_DIR}/cmake/install_paths.cmake\")
  xsched_install_generated_files(\"\${CMAKE_INSTALL_PREFIX}\")")

# The unit as the build tree's prefix would install it, for daemon_deploy_test.
include(${PROJECT_SOURCE_DIR}/cmake/install_paths.cmake)
xsched_configure_unit("${CMAKE_INSTALL_PREFIX}" "${CMAKE_INSTALL_BINDIR}" "${CMAKE_INSTALL_DOCDIR}"
                      "${PROJECT_BINARY_DIR}/dist/systemd/xschedd.service")
set(XSCHED_CONFIGURED_UNIT "${PROJECT_BINARY_DIR}/dist/systemd/xschedd.service")

include(${PROJECT_SOURCE_DIR}/cmake/package.cmake)
