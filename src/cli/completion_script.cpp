// The bash and zsh completion scripts. They only hand the words to `ttops __complete` and show
// what it answers, so the binary stays the one source of commands, flags and runbook names.
#include "cli/completion.hpp"

namespace ttops {

namespace {

constexpr const char* k_bash = R"BASH(# bash completion for ttops and kubectl-ttops, written by `ttops completion bash`.
# The candidates come from `ttops __complete`, which reads the same command definitions as
# `ttops --help`, and the runbook library.
#   source <(ttops completion bash)      # in this shell
# Installed as share/bash-completion/completions/ttops, bash-completion loads it on first use.

_ttops() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local -a args=() lines=()
    local i word glued=0
    # bash splits words at '=' (COMP_WORDBREAKS): glue `--env` `=` `prod` back into `--env=prod`.
    for ((i = 1; i <= COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [[ $word == "=" && ${#args[@]} -gt 0 && ${args[-1]} == -* && ${args[-1]} != *=* ]]; then
            args[-1]+="="
            glued=1
        elif ((glued)); then
            args[-1]+=$word
            glued=0
        else
            args+=("$word")
        fi
    done
    # Bash replaces only `cur`: whatever the partial word has before it is cut from the candidates.
    local strip=${args[-1]%"$cur"}
    mapfile -t lines < <("${COMP_WORDS[0]}" __complete "${args[@]}" 2>/dev/null)
    local directive=0
    if [[ ${#lines[@]} -gt 0 && ${lines[-1]} =~ ^:([0-9]+)$ ]]; then
        directive=${BASH_REMATCH[1]}
        unset 'lines[-1]'
    fi
    COMPREPLY=()
    local line
    for line in "${lines[@]}"; do
        [[ -n $line ]] || continue
        line=${line%%$'\t'*}
        COMPREPLY+=("${line#"$strip"}")
    done
    if ((directive & 2)); then
        compopt -o nospace 2>/dev/null
    fi
    if ((${#COMPREPLY[@]} == 0)); then
        if ((directive & 16)); then
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -d -- "$cur")
        elif ((!(directive & 4))); then
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        fi
    fi
    return 0
}

complete -F _ttops ttops kubectl-ttops
)BASH";

constexpr const char* k_zsh = R"ZSH(#compdef ttops kubectl-ttops
# zsh completion for ttops and kubectl-ttops, written by `ttops completion zsh`.
# The candidates come from `ttops __complete`, which reads the same command definitions as
# `ttops --help`, and the runbook library.
#   source <(ttops completion zsh)       # in this shell, after compinit
# Installed as share/zsh/vendor-completions/_ttops, compinit finds it on $fpath.

_ttops() {
  local -a lines candidates flags
  local line value description directive=0
  lines=("${(@f)$(${words[1]} __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
  if [[ ${lines[-1]} == :<-> ]]; then
    directive=${lines[-1]#:}
    lines=("${(@)lines[1,-2]}")
  fi
  for line in "${lines[@]}"; do
    [[ -n $line ]] || continue
    value=${line%%$'\t'*}
    description=""
    [[ $line == *$'\t'* ]] && description=${line#*$'\t'}
    candidates+=("${value//:/\\:}${description:+:$description}")
  done
  (( directive & 2 )) && flags+=(-S '')
  if (( ${#candidates} )); then
    _describe -t ttops ttops candidates "${flags[@]}"
  elif (( directive & 16 )); then
    _path_files -/
  elif (( ! (directive & 4) )); then
    _files
  fi
}

# Autoloaded from $fpath this file is the function's body; sourced, it registers the function.
if [[ $funcstack[1] == _ttops ]]; then
  _ttops "$@"
else
  compdef _ttops ttops kubectl-ttops
fi
)ZSH";

}  // namespace

std::string completion_script(const std::string& shell) {
  if (shell == "bash") return k_bash;
  if (shell == "zsh") return k_zsh;
  return {};
}

}  // namespace ttops
