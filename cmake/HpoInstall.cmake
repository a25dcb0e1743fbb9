# What `cmake --install` and the Debian packages put where, beyond the executables (whose rules
# sit next to their targets). Components, one Debian package each (cmake/HpoPackaging.cmake):
#   server  bin/hpo-server, share/hpo/dashboard, lib/systemd/system/hpo-server.service
#   worker  bin/hpo-worker, dlrm-train, dlrm-datagen, hpo-worker@.service, share/hpo/slurm
#   cli     bin/hpo-cli, share/hpo/examples (experiment specs)
#   python  the hpo package in dist-packages, share/hpo/examples/python
#   common  the hpo user (lib/sysusers.d/hpo.conf), share/doc/hpo
# The server finds share/hpo/dashboard from its own path (<prefix>/bin/../share/hpo/dashboard).

set(HPO_DEPLOY_DIR ${PROJECT_SOURCE_DIR}/deploy)

# hpo_install_configured(SOURCE file.in DESTINATION dir NAME name COMPONENT c [PROGRAM])
#   Installs SOURCE as dir/name with @HPO_BINDIR@, @HPO_DATADIR@ and @HPO_PREFIX@ replaced by the
#   paths of the prefix it is installed to (the one of `cmake --install --prefix`, or /usr in a
#   package), not the one the build was configured with.
function(hpo_install_configured)
  cmake_parse_arguments(ARG "PROGRAM" "SOURCE;DESTINATION;NAME;COMPONENT" "" ${ARGN})
  set(staged ${PROJECT_BINARY_DIR}/install-configured/${ARG_COMPONENT}/${ARG_NAME})
  set(kind FILES)
  if(ARG_PROGRAM)
    set(kind PROGRAMS)
  endif()
  install(CODE "
    set(HPO_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
    set(HPO_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
    set(HPO_DATADIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DATADIR}/hpo\")
    configure_file(\"${ARG_SOURCE}\" \"${staged}\" @ONLY)
    file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${ARG_DESTINATION}\" TYPE ${kind}
         FILES \"${staged}\")"
    COMPONENT ${ARG_COMPONENT})
endfunction()

# systemd looks for units in <prefix>/lib/systemd/system for /usr and /usr/local, and
# systemd-sysusers for lib/sysusers.d: not the multiarch libdir.
hpo_install_configured(SOURCE ${HPO_DEPLOY_DIR}/systemd/hpo-server.service.in
                       DESTINATION lib/systemd/system NAME hpo-server.service COMPONENT server)
hpo_install_configured(SOURCE ${HPO_DEPLOY_DIR}/systemd/hpo-worker@.service.in
                       DESTINATION lib/systemd/system NAME hpo-worker@.service COMPONENT worker)
install(FILES ${HPO_DEPLOY_DIR}/systemd/hpo-server.env.example
        DESTINATION ${CMAKE_INSTALL_DATADIR}/hpo/systemd COMPONENT server)
install(FILES ${HPO_DEPLOY_DIR}/systemd/hpo-worker.env.example
        DESTINATION ${CMAKE_INSTALL_DATADIR}/hpo/systemd COMPONENT worker)
install(FILES ${HPO_DEPLOY_DIR}/systemd/hpo.sysusers DESTINATION lib/sysusers.d RENAME hpo.conf
        COMPONENT common)
install(PROGRAMS ${HPO_DEPLOY_DIR}/slurm/hpo-workers.sbatch ${HPO_DEPLOY_DIR}/slurm/hpo-gang.sbatch
        DESTINATION ${CMAKE_INSTALL_DATADIR}/hpo/slurm COMPONENT worker)
install(DIRECTORY ${HPO_DEPLOY_DIR}/examples/ DESTINATION ${CMAKE_INSTALL_DATADIR}/hpo/examples
        COMPONENT cli)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT common)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs
        COMPONENT common FILES_MATCHING PATTERN "*.md" PATTERN img EXCLUDE)

# Everything the install rules take from the build tree: deploy/package.sh builds this target,
# then runs cpack, which (like `make install`) builds nothing itself, so packaging never waits
# for the test suite to compile.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
add_custom_target(hpo_packaged)
add_dependencies(hpo_packaged hpo_server hpo_cli hpo_worker hpo_python)
foreach(target hpo_dashboard_web dlrm-train dlrm-datagen)
  if(TARGET ${target})
    add_dependencies(hpo_packaged ${target})
  endif()
endforeach()
