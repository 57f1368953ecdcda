# Every dependency comes from Debian's packages; nothing is vendored.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(CLI11 2.1 REQUIRED)            # libcli11-dev
find_package(nlohmann_json 3.10 REQUIRED)   # nlohmann-json3-dev
find_package(yaml-cpp 0.7 REQUIRED)         # libyaml-cpp-dev
find_package(spdlog 1.10 REQUIRED)          # libspdlog-dev
find_package(CURL 7.80 REQUIRED)            # libcurl4-openssl-dev
find_package(OpenSSL 3 REQUIRED)            # libssl-dev (libcrypto: SHA-256 for the audit chain)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx>=6.4)   # libpqxx-dev
pkg_check_modules(PQ REQUIRED IMPORTED_TARGET libpq)             # libpq-dev (libpqxx-dev depends on it)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis>=0.14) # libhiredis-dev
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)              # libre2-dev: linear-time regexes
if(TTOPS_BUILD_TESTS)
  find_package(Catch2 2.13 REQUIRED)        # catch2 (v2)
endif()
