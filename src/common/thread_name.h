#pragma once

#include <pthread.h>

namespace stagewise {

/// Names the calling thread (at most 15 characters shown), so that top,
/// perf and gdb tell the processor's threads apart (tools/bench/profile).
inline void name_this_thread(const char* name) {
  pthread_setname_np(pthread_self(), name);
}

}  // namespace stagewise
