#pragma once
// Names the calling thread, as `top -H`, `perf` and /proc/PID/task show it, so that an operator
// can tell which of a node's threads is busy. Linux keeps at most 15 bytes; longer names are cut.
#include <pthread.h>

#include <string>

namespace qim::core {

inline void name_this_thread(std::string name) {
  if (name.size() > 15) name.resize(15);
  pthread_setname_np(pthread_self(), name.c_str());
}

}  // namespace qim::core
