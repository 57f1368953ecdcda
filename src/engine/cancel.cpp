#include <fcntl.h>
#include <unistd.h>

#include "ttops/cancel.hpp"

namespace ttops {

CancelToken::CancelToken() {
  if (::pipe(m_pipe) == 0) {
    for (int fd : m_pipe) {
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
  }
}

CancelToken::~CancelToken() {
  for (int fd : m_pipe)
    if (fd >= 0) ::close(fd);
}

void CancelToken::cancel(int signal_number) noexcept {
  if (signal_number != 0 && m_signal.load() == 0) m_signal.store(signal_number);
  m_cancelled.store(true);
  if (m_pipe[1] >= 0) {
    char byte = 1;
    [[maybe_unused]] auto ignored = ::write(m_pipe[1], &byte, 1);
  }
}

CancelToken& process_cancel_token() {
  static CancelToken token;
  return token;
}

}  // namespace ttops
