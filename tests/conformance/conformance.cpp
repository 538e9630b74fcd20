// Runs Debian's ONNX backend conformance cases (libonnx-testdata): each test_*/model.onnx with
// every test_data_set_*/input_*.pb, compared with output_*.pb like ONNX's backend tests (floats:
// |ours - ref| <= atol + rtol*|ref| with rtol 1e-3, atol 1e-7; NaN matches NaN; others exact).
// Every case is classified passed / failed / unsupported (with the reason). Each case runs in a
// forked child so a crash or hang in one kernel is reported as that case's failure.
// With --expected FILE, exits non-zero if any listed case does not pass (a regression).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "onnx/importer.hpp"
#include "visionrt/core.hpp"

namespace fs = std::filesystem;
using namespace visionrt;

namespace {

struct Result {
  char status = 'F';  // P passed, F failed, U unsupported
  std::string reason;
};

std::vector<fs::path> numbered(const fs::path& dir, const std::string& prefix) {
  std::vector<std::pair<int, fs::path>> v;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string n = e.path().filename().string();
    if (n.rfind(prefix, 0) == 0 && e.path().extension() == ".pb")
      v.emplace_back(std::stoi(n.substr(prefix.size())), e.path());
  }
  std::sort(v.begin(), v.end());
  std::vector<fs::path> r;
  for (auto& p : v) r.push_back(p.second);
  return r;
}

std::string compare(const Tensor& got, const Tensor& want, double rtol, double atol) {
  std::ostringstream os;
  if (got.dtype() != want.dtype()) {
    os << "dtype " << dtype_name(got.dtype()) << " vs expected " << dtype_name(want.dtype());
    return os.str();
  }
  if (got.shape() != want.shape()) {
    os << "shape " << shape_str(got.shape()) << " vs expected " << shape_str(want.shape());
    return os.str();
  }
  size_t bad = 0, first = 0;
  double worst = 0;
  bool is_float = dtype_is_float(want.dtype());
  for (size_t i = 0; i < want.numel(); ++i) {
    double a = got.at_f64(i), b = want.at_f64(i);
    bool ok;
    if (is_float) {
      if (std::isnan(b))
        ok = std::isnan(a);
      else if (std::isinf(b))
        ok = a == b;
      else
        ok = std::fabs(a - b) <= atol + rtol * std::fabs(b);
    } else {
      ok = got.at_i64(i) == want.at_i64(i) || (want.dtype() == DType::u64 && a == b);
    }
    if (!ok) {
      if (!bad) first = i;
      ++bad;
      if (std::isfinite(a - b)) worst = std::max(worst, std::fabs(a - b));
    }
  }
  if (!bad) return "";
  os << bad << "/" << want.numel() << " values differ; first at " << first << ": "
     << got.at_f64(first) << " vs expected " << want.at_f64(first) << " (max abs diff " << worst
     << ")";
  return os.str();
}

// ONNX 1.12's test data stores bfloat16 tensors as uint16 bit patterns (NumPy has no bf16):
// reinterpret them when the model declares bf16.
Tensor as_declared(const Tensor& t, DType declared) {
  if (declared == DType::bf16 && t.dtype() == DType::u16)
    return Tensor::from_bytes(DType::bf16, t.shape(), t.raw(), t.nbytes());
  return t;
}

bool looks_unsupported(const std::string& msg) {
  static const char* kMarks[] = {"unsupported",     "not supported", "no such op", "no kernel",
                                 "is not a tensor", "custom domain", "declin"};
  for (const char* m : kMarks)
    if (msg.find(m) != std::string::npos) return true;
  return false;
}

Result run_case(const fs::path& dir) {
  Result r;
  Core core;
  CompiledModel cm;
  try {
    // The conformance data is f32 arithmetic: so is the run (the default may be bf16).
    cm = core.compile_model((dir / "model.onnx").string(),
                            {{"INFERENCE_NUM_THREADS", "1"}, {"INFERENCE_PRECISION", "f32"}});
  } catch (const std::exception& e) {
    r.reason = e.what();
    r.status = looks_unsupported(r.reason) ? 'U' : 'F';
    return r;
  }
  std::vector<fs::path> sets;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0)
      sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) {
    r.reason = "no test_data_set_* folder";
    return r;
  }
  try {
    for (const auto& set : sets) {
      InferRequest req = cm.create_infer_request();
      auto ins = numbered(set, "input_");
      if (ins.size() != cm.inputs().size()) {
        // Tests may omit trailing optional inputs; they cannot be fed here.
        r.reason = "test feeds " + std::to_string(ins.size()) + " inputs, model has " +
                   std::to_string(cm.inputs().size());
        r.status = 'U';
        return r;
      }
      for (size_t i = 0; i < ins.size(); ++i) {
        std::string name;
        Tensor t = as_declared(load_tensor_pb(ins[i].string(), &name), cm.inputs()[i].dtype);
        bool by_name = false;
        for (const auto& p : cm.inputs())
          if (!name.empty() && p.name == name) by_name = true;
        if (by_name)
          req.set_tensor(name, t);
        else
          req.set_input_tensor(i, t);
      }
      req.infer();
      auto outs = numbered(set, "output_");
      if (outs.size() != cm.outputs().size()) {
        r.reason = "expected " + std::to_string(outs.size()) + " outputs, model has " +
                   std::to_string(cm.outputs().size());
        return r;
      }
      for (size_t i = 0; i < outs.size(); ++i) {
        Tensor want = as_declared(load_tensor_pb(outs[i].string()), cm.outputs()[i].dtype);
        std::string diff = compare(req.get_output_tensor(i), want, 1e-3, 1e-7);
        if (!diff.empty()) {
          r.reason = set.filename().string() + " output " + std::to_string(i) + " (" +
                     cm.outputs()[i].name + "): " + diff;
          return r;
        }
      }
    }
  } catch (const std::exception& e) {
    r.reason = e.what();
    r.status = looks_unsupported(r.reason) ? 'U' : 'F';
    return r;
  }
  r.status = 'P';
  return r;
}

// Runs one case in a child process with a time limit; a crash becomes a failure.
Result run_isolated(const fs::path& dir, int timeout_s) {
  int fds[2];
  if (pipe(fds) != 0) return run_case(dir);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(static_cast<unsigned>(timeout_s));
    Result r = run_case(dir);
    std::string msg(1, r.status);
    msg += r.reason;
    size_t off = 0;
    while (off < msg.size()) {
      ssize_t w = write(fds[1], msg.data() + off, msg.size() - off);
      if (w <= 0) break;
      off += static_cast<size_t>(w);
    }
    close(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  std::string msg;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) msg.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  Result r;
  if (WIFSIGNALED(st)) {
    int sig = WTERMSIG(st);
    r.reason = sig == SIGALRM ? "timed out after " + std::to_string(timeout_s) + " s"
                              : std::string("crashed: ") + strsignal(sig);
    return r;
  }
  if (msg.empty()) {
    r.reason = "child exited without a result (status " + std::to_string(WEXITSTATUS(st)) + ")";
    return r;
  }
  r.status = msg[0];
  r.reason = msg.substr(1);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir, filter, expected, write_expected;
  bool verbose = false, isolate = true;
  int timeout_s = 120;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--dir")
      dir = next();
    else if (a == "--filter")
      filter = next();
    else if (a == "--expected")
      expected = next();
    else if (a == "--write-expected")
      write_expected = next();
    else if (a == "--timeout")
      timeout_s = std::stoi(next());
    else if (a == "--verbose" || a == "-v")
      verbose = true;
    else if (a == "--no-fork")
      isolate = false;
    else {
      std::cerr << "usage: onnx_conformance --dir DIR [--filter REGEX] [--expected FILE]\n"
                   "       [--write-expected FILE] [--timeout S] [--verbose] [--no-fork]\n";
      return 2;
    }
  }
  if (dir.empty() || !fs::is_directory(dir)) {
    std::cerr << "conformance data folder '" << dir << "' not found "
              << "(apt-get install libonnx-testdata)\n";
    return 2;
  }
  std::regex re(filter.empty() ? ".*" : filter);
  std::vector<fs::path> cases;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && fs::exists(e.path() / "model.onnx") &&
        std::regex_search(e.path().filename().string(), re))
      cases.push_back(e.path());
  std::sort(cases.begin(), cases.end());

  std::set<std::string> want_pass;
  if (!expected.empty()) {
    std::ifstream f(expected);
    if (!f) {
      std::cerr << expected << ": cannot open expected-pass list\n";
      return 2;
    }
    for (std::string line; std::getline(f, line);)
      if (!line.empty() && line[0] != '#') want_pass.insert(line);
  }
  std::map<char, int> counts;
  std::vector<std::string> passed, regressions, new_passes;
  std::map<std::string, int> unsupported_reasons;
  for (const auto& c : cases) {
    std::string name = c.filename().string();
    Result r = isolate ? run_isolated(c, timeout_s) : run_case(c);
    counts[r.status]++;
    if (r.status == 'P') passed.push_back(name);
    if (r.status == 'U') unsupported_reasons[r.reason.substr(0, 160)]++;
    bool expected_pass = want_pass.count(name) != 0;
    if (expected_pass && r.status != 'P') regressions.push_back(name + ": " + r.reason);
    if (!expected.empty() && !expected_pass && r.status == 'P') new_passes.push_back(name);
    if (verbose || (expected_pass && r.status != 'P')) {
      const char* tag = r.status == 'P' ? "passed" : r.status == 'U' ? "unsupported" : "FAILED";
      std::cout << tag << " " << name << (r.reason.empty() ? "" : ": " + r.reason) << "\n";
    }
  }
  if (!write_expected.empty()) {
    std::ofstream f(write_expected + ".tmp");
    f << "# Conformance cases expected to pass (regenerate: onnx_conformance --dir " << dir
      << " --write-expected FILE)\n";
    for (const auto& p : passed) f << p << "\n";
    f.close();
    fs::rename(write_expected + ".tmp", write_expected);
  }
  std::string folder = fs::path(dir).filename().string();
  std::cout << "conformance " << folder << ": " << counts['P'] << " passed, " << counts['F']
            << " failed, " << counts['U'] << " unsupported (" << cases.size() << " cases)\n";
  if (!new_passes.empty())
    std::cout << new_passes.size() << " cases pass that the expected list does not name yet\n";
  if (!regressions.empty()) {
    std::cout << regressions.size() << " REGRESSIONS against " << expected << ":\n";
    for (const auto& r : regressions) std::cout << "  " << r << "\n";
    return 1;
  }
  return 0;
}
