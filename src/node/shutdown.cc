#include "node/shutdown.h"

#include <pthread.h>

#include <cerrno>
#include <csignal>
#include <ctime>

namespace medmesh::node {
namespace {

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

void BlockTerminationSignals() {
  const sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

std::optional<int> WaitForTerminationSignal(std::optional<std::chrono::milliseconds> timeout) {
  const sigset_t set = TerminationSignals();
  while (true) {
    if (!timeout) {
      int signal_number = 0;
      if (sigwait(&set, &signal_number) == 0) return signal_number;
      continue;
    }
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(timeout->count() / 1000);
    ts.tv_nsec = static_cast<long>((timeout->count() % 1000) * 1'000'000);
    const int signal_number = sigtimedwait(&set, nullptr, &ts);
    if (signal_number > 0) return signal_number;
    if (errno == EINTR) continue;
    return std::nullopt;  // EAGAIN: the timeout ran out
  }
}

}  // namespace medmesh::node
