// visionrt error model: every failure is a visionrt::Error (or subclass) with a clear message
// naming the file, node and op where known. The CLI prints what() on one line.
#pragma once
#include <stdexcept>
#include <string>

namespace visionrt {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// The model file is malformed, uses something unsupported, or its graph is inconsistent.
class ModelError : public Error {
 public:
  using Error::Error;
};

// A tensor given by the user (or produced at run time) does not fit what the model expects.
class InputError : public Error {
 public:
  using Error::Error;
};

// A file could not be read or written.
class IoError : public Error {
 public:
  using Error::Error;
};

}  // namespace visionrt
