# Debian packages with CPack, one per install component (cmake/HpoInstall.cmake):
#   cd build && cpack -G DEB         (or bash deploy/package.sh, which builds first)
# gives hpo-common, hpo-server, hpo-worker, hpo-cli and python3-hpo, installed under /usr.
# Library dependencies come from dpkg-shlibdeps (libgrpc++1.51, libtorch1.13, ...).

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME hpo)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "hpo maintainers <hpo@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "hyperparameter optimization as a service, for DLRM on Xeon clusters")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL common server worker cli python)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # name_version_arch.deb
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)

set(same "(= ${PROJECT_VERSION})")
set(scripts ${PROJECT_SOURCE_DIR}/deploy/debian)

set(CPACK_DEBIAN_COMMON_PACKAGE_NAME hpo-common)
set(CPACK_DEBIAN_COMMON_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_COMMON_PACKAGE_DEPENDS "adduser | systemd")
set(CPACK_COMPONENT_COMMON_DESCRIPTION
    "hpo: the hpo user of the services, and the documentation")
set(CPACK_DEBIAN_COMMON_PACKAGE_CONTROL_EXTRA ${scripts}/common/postinst)

set(CPACK_DEBIAN_SERVER_PACKAGE_NAME hpo-server)
set(CPACK_DEBIAN_SERVER_PACKAGE_DEPENDS "hpo-common ${same}")
set(CPACK_DEBIAN_SERVER_PACKAGE_SUGGESTS "hpo-cli, python3-hpo")
set(CPACK_COMPONENT_SERVER_DESCRIPTION
    "hpo-server: suggestions, observations, pruning and the dashboard over gRPC, with SQLite")
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_EXTRA ${scripts}/service/postinst ${scripts}/service/postrm)

set(CPACK_DEBIAN_WORKER_PACKAGE_NAME hpo-worker)
set(CPACK_DEBIAN_WORKER_PACKAGE_DEPENDS "hpo-common ${same}")
# LibTorch runs its MLPs on the libblas.so.3 selected: OpenBLAS (docs/cluster.md, section 0).
set(CPACK_DEBIAN_WORKER_PACKAGE_RECOMMENDS "libopenblas0-openmp")
set(CPACK_COMPONENT_WORKER_DESCRIPTION
    "hpo-worker: runs trials with the embedded LibTorch DLRM trainer or any command; Slurm scripts")
set(CPACK_DEBIAN_WORKER_PACKAGE_CONTROL_EXTRA ${scripts}/service/postinst ${scripts}/service/postrm)

set(CPACK_DEBIAN_CLI_PACKAGE_NAME hpo-cli)
set(CPACK_COMPONENT_CLI_DESCRIPTION "hpo-cli: the command line of hpo-server, and example specs")

set(CPACK_DEBIAN_PYTHON_PACKAGE_NAME python3-hpo)
set(CPACK_DEBIAN_PYTHON_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_PYTHON_PACKAGE_SECTION python)
set(CPACK_DEBIAN_PYTHON_PACKAGE_DEPENDS
    "python3 (>= 3.9), python3-grpcio (>= 1.51), python3-protobuf (>= 3.21)")
set(CPACK_DEBIAN_PYTHON_PACKAGE_RECOMMENDS "python3-yaml")
set(CPACK_COMPONENT_PYTHON_DESCRIPTION
    "Python SDK of hpo-server: experiments, suggestions, observations and Python workers")
set(CPACK_DEBIAN_PYTHON_PACKAGE_CONTROL_EXTRA ${scripts}/python/postinst
    ${scripts}/python/prerm)

include(CPack)
