// One process-wide lock for every libhdf5 call: the library is thread-safe only when built with
// --enable-threadsafe, and the GUI may load a model and a dataset on two worker threads at once.
#pragma once

#include <mutex>

namespace cw {
std::mutex &hdf5Mutex(); // defined in h5_format.cpp
} // namespace cw
