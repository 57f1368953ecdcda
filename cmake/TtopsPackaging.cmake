# `cpack` (in the build directory) makes ttops_<version>_<arch>.deb from the install rules
# (cmake/TtopsInstall.cmake), installed under /usr. Its Depends line is computed by dpkg-shlibdeps
# from the libraries the binary links (libcurl, libpqxx, libhiredis, libyaml-cpp…), so it always
# matches what was linked. tests/integration/test_package.py builds it and installs it with dpkg.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ttops)
set(CPACK_PACKAGE_VENDOR "ttops")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_DESCRIPTION
    "ttops loads YAML runbooks, checks them before anything runs, and runs their
steps through native executors for HTTP, PostgreSQL, Redis and kubectl. It
installs as a kubectl plugin (kubectl ttops), with a man page, bash and zsh
completion, and its runbook library in /usr/share/ttops.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)  # the debug information stays in the build tree
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "ttops maintainers")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# kubectl is not a Debian package in bookworm: the kubectl steps need it on PATH (the Docker
# image copies it in), but the package cannot depend on it.
include(CPack)
