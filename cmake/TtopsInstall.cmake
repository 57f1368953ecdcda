# What `cmake --install` (and so the .deb) puts where, under the prefix:
#   bin/ttops                                  the binary
#   bin/kubectl-ttops                          -> ttops: kubectl's plugin discovery runs `kubectl ttops …`
#   bin/kubectl_complete-ttops                 -> ttops: kubectl's plugin completion asks it for candidates
#   share/ttops/runbooks/                      the runbook library; the binary finds it from its own path
#   share/man/man1/ttops.1                     written at build time by `ttops __man`
#   share/bash-completion/completions/ttops    written at build time by `ttops completion bash`
#   share/zsh/vendor-completions/_ttops        written at build time by `ttops completion zsh`
# The man page and the scripts are the binary's own output, never edited by hand, so they say what
# `--help` says. Included from src/CMakeLists.txt, where the ttops target is.

set(TTOPS_GENERATED_DIR ${CMAKE_CURRENT_BINARY_DIR}/generated)

# Runs the built ttops with ARGN and keeps its standard output as OUTPUT (in TTOPS_GENERATED_DIR).
function(ttops_generate output)
  list(JOIN ARGN " " arguments)
  add_custom_command(
    OUTPUT ${TTOPS_GENERATED_DIR}/${output}
    COMMAND ${CMAKE_COMMAND} -DOUTPUT=${TTOPS_GENERATED_DIR}/${output}
            -P ${PROJECT_SOURCE_DIR}/cmake/TtopsRunToFile.cmake -- $<TARGET_FILE:ttops> ${ARGN}
    DEPENDS ttops ${PROJECT_SOURCE_DIR}/cmake/TtopsRunToFile.cmake
    COMMENT "Writing ${output} (ttops ${arguments})"
    VERBATIM)
endfunction()

ttops_generate(ttops.1 __man)
ttops_generate(ttops.bash completion bash)
ttops_generate(_ttops completion zsh)
add_custom_target(ttops_generated ALL
  DEPENDS ${TTOPS_GENERATED_DIR}/ttops.1 ${TTOPS_GENERATED_DIR}/ttops.bash ${TTOPS_GENERATED_DIR}/_ttops)

# The kubectl names are links to ttops, in the build tree too (so tests can use either tree).
foreach(link kubectl-ttops kubectl_complete-ttops)
  file(CREATE_LINK ttops ${CMAKE_CURRENT_BINARY_DIR}/${link} SYMBOLIC)
endforeach()
# bash-completion loads completions/<command> on first use: kubectl-ttops shares ttops's script.
file(MAKE_DIRECTORY ${TTOPS_GENERATED_DIR})
file(CREATE_LINK ttops ${TTOPS_GENERATED_DIR}/kubectl-ttops SYMBOLIC)

install(TARGETS ttops RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/kubectl-ttops ${CMAKE_CURRENT_BINARY_DIR}/kubectl_complete-ttops
        DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/runbooks DESTINATION ${CMAKE_INSTALL_DATADIR}/ttops)
install(FILES ${TTOPS_GENERATED_DIR}/ttops.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${TTOPS_GENERATED_DIR}/ttops.bash DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
        RENAME ttops)
install(FILES ${TTOPS_GENERATED_DIR}/kubectl-ttops DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
install(FILES ${TTOPS_GENERATED_DIR}/_ttops DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions)
