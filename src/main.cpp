// ttops: executable, checked runbooks. See README.md and docs/architecture.md.
#include <signal.h>
#include <unistd.h>

#include <exception>
#include <iostream>

#include "cli/command.hpp"
#include "ttops/cancel.hpp"
#include "ttops/result.hpp"

namespace {

// The first Ctrl-C or SIGTERM asks the run to stop (steps end, children are killed, what ran is
// reported); a second one ends the process at once.
void on_signal(int signal_number) {
  auto& token = ttops::process_cancel_token();
  if (token.cancelled()) _exit(signal_number == SIGTERM ? ttops::exit_code::terminated : ttops::exit_code::interrupted);
  token.cancel(signal_number);
}

void install_signal_handlers() {
  (void)ttops::process_cancel_token();  // create the pipe before any signal can arrive
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a closed pipe is an error to report, not a reason to die silently
}

}  // namespace

int main(int argc, char** argv) {
  install_signal_handlers();
  try {
    return ttops::run_cli(argc, argv, std::cout, std::cerr);
  } catch (const std::exception& error) {
    std::cerr << "ttops: internal error: " << error.what() << "\n"
              << "This is a bug in ttops; please report it with the command line that caused it.\n";
    return ttops::exit_code::internal;
  } catch (...) {
    std::cerr << "ttops: internal error (unknown exception)\n";
    return ttops::exit_code::internal;
  }
}
