// Errors a user can cause (a bad file, an unsupported operator, a shape mismatch, a cancelled job).
//
// Inside core/ they travel as cw::Error exceptions; every front-end boundary (a CLI command, a job's
// run()) catches them and turns them into a value: an exit code and one line, or a failed(error) signal.
// Programmer errors (a wrong dtype accessor, an index out of range) assert instead.
#pragma once

#include <stdexcept>
#include <string>

namespace cw {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string &message) : std::runtime_error(message) {}
};

// Thrown when a job sees its stop token set; callers report "cancelled", not a failure.
class Cancelled : public Error {
public:
    Cancelled() : Error("cancelled") {}
};

} // namespace cw
